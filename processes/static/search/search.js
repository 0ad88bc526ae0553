// The search page: a phrase or the filters go to api/parcels; the parcels found come back as
// GeoJSON with the query as understood, drawn on the map and listed in the table.
// Plain JS over the vendored Leaflet: no build step, nothing fetched from the internet.
'use strict';

const $ = (selector) => document.querySelector(selector);

// Damage levels, lowest first, on a sequential yellow→dark-red scale (ColorBrewer YlOrRd, every
// other class of nine), so that worse damage reads darker without a legend at hand.
const LEVEL_COLOURS = {'very low': '#fed976', 'low': '#fd8d3c', 'middle': '#e31a1c', 'high': '#800026'};
const NO_LEVEL = '#9e9e9e';
const SELECTED = '#0057b8';

// No base layer: a tile server would need the internet. Parcels are drawn on a plain background.
const map = L.map('map', {zoomSnap: 0.25}).fitWorld();
L.control.scale({imperial: false}).addTo(map);
const layers = L.control.layers(null, {}, {collapsed: false}).addTo(map);
let parcels = L.featureGroup().addTo(map);
let drawn = [];  // the layer of each result, by its row's index
let selected = null;

function legend() {
  const control = L.control({position: 'bottomright'});
  control.onAdd = () => {
    const box = L.DomUtil.create('div', 'legend');
    box.setAttribute('aria-label', 'Legend: damage levels');
    const title = L.DomUtil.create('strong', '', box);
    title.textContent = 'Damage level';
    for (const [level, colour] of [...Object.entries(LEVEL_COLOURS), ['no level', NO_LEVEL]]) {
      const item = L.DomUtil.create('div', '', box);
      L.DomUtil.create('i', '', item).style.background = colour;
      item.append(level);
    }
    return box;
  };
  control.addTo(map);
}

function option(select, value, text = value) {
  const element = document.createElement('option');
  element.value = value;
  element.textContent = text;
  select.append(element);
}

// The filters' choices come from the server, so the page offers exactly what the API accepts
// and the classes actually stored.
async function fillFilters() {
  const vocabulary = await getJSON('api/vocabulary');
  vocabulary.classes.forEach((name) => option($('#classes'), name));
  // 'any' and 'rank' are the API's defaults: their blank options above stand for them.
  vocabulary.sources.filter((s) => s !== 'any').forEach((name) => option($('#source'), name));
  vocabulary.orders.filter((o) => o !== 'rank').forEach((name) => option($('#order'), name));
  for (const level of vocabulary.levels) {
    const label = document.createElement('label');
    const box = document.createElement('input');
    Object.assign(box, {type: 'checkbox', name: 'levels', value: level, id: 'level-' + level.replace(/ /g, '-')});
    label.append(box, ' ' + level);
    $('#levels').append(label);
  }
}

// Quicklooks of the stored change maps, as overlays off by default: they can hide the parcels.
async function addQuicklooks() {
  for (const look of await getJSON('api/quicklooks')) {
    const overlay = L.imageOverlay(look.href, look.bounds, {opacity: 0.7, alt: look.name});
    const period = [look.period_start, look.period_end].map(day).join(' – ');
    // Leaflet writes an overlay's name as HTML: give it text only.
    const label = document.createElement('span');
    label.textContent = `${look.name} (${period})`;
    layers.addOverlay(overlay, label.innerHTML);
  }
}

async function getJSON(url) {
  const response = await fetch(url);
  // A proxy's or a crashed server's page is not JSON: say what came back instead.
  const body = await response.json().catch(() => {
    throw new Error(`${response.status} ${response.statusText}`);
  });
  if (!response.ok) throw Object.assign(new Error(body.error), {parameter: body.parameter});
  return body;
}

// The filters as API parameters; a field left blank is not sent, so the API's defaults hold.
function filterParameters() {
  const parameters = new URLSearchParams();
  const classes = [...$('#classes').selectedOptions].map((o) => o.value);
  if (classes.length) parameters.set('classes', classes.join(','));
  const levels = [...document.querySelectorAll('#levels input:checked')].map((box) => box.value);
  if (levels.length) parameters.set('levels', levels.join(','));
  for (const name of ['source', 'after', 'before', 'aoi', 'min_area', 'order', 'descending', 'limit']) {
    const value = $('#' + name).value.trim();
    if (value) parameters.set(name, value);
  }
  // The field holds a percentage; a bare number would be read as a fraction.
  const percent = $('#min_fraction').value.trim();
  if (percent) parameters.set('min_fraction', percent + '%');
  return parameters;
}

async function run(parameters) {
  showError(null);
  const results = $('#results');
  results.dataset.state = 'loading';
  try {
    const collection = await getJSON('api/parcels?' + parameters);
    show(collection, parameters);
    results.dataset.state = 'ready';
  } catch (error) {
    clear();
    showError(error);
    results.dataset.state = 'error';
  } finally {
    // Counted once a search has ended, whichever way: tests and scripts wait on it.
    results.dataset.searches = Number(results.dataset.searches) + 1;
  }
}

function showError(error) {
  document.querySelectorAll('[aria-invalid]').forEach((field) => field.removeAttribute('aria-invalid'));
  const box = $('#error');
  box.hidden = !error;
  if (!error) return;
  box.textContent = error.parameter ? `${error.parameter}: ${error.message}` : `Could not search: ${error.message}`;
  const field = error.parameter && document.getElementById(error.parameter);
  if (field) {
    field.setAttribute('aria-invalid', 'true');
    field.focus();
  }
}

function clear() {
  parcels.remove();
  parcels = L.featureGroup().addTo(map);
  drawn = [];
  selected = null;
  $('#results tbody').replaceChildren();
  $('#understood').textContent = '';
  $('#count').textContent = '';
  $('#exports').hidden = true;
}

function show(collection, parameters) {
  clear();
  $('#understood').textContent = collection.query.understood;
  const matches = collection.query.matches;
  $('#count').textContent = `${matches} ${matches === 1 ? 'parcel' : 'parcels'}`;
  for (const extension of ['geojson', 'zip', 'csv']) {
    $('#export-' + extension).href = `api/parcels.${extension}?${parameters}`;
  }
  $('#exports').hidden = false;
  const body = $('#results tbody');
  collection.features.forEach((feature, index) => {
    body.append(row(feature.properties, index));
    if (!feature.geometry) return;  // listed, but nothing to draw
    const layer = L.geoJSON(feature, {style: () => style(feature.properties)}).getLayers()[0];
    layer.bindPopup(popup(feature.properties));
    layer.on('click', () => select(index, false));
    parcels.addLayer(layer);
    drawn[index] = layer;
  });
  if (collection.features.length) map.fitBounds(parcels.getBounds(), {padding: [20, 20], maxZoom: 16});
}

function style(properties) {
  return {color: '#333', weight: 1, fillOpacity: 0.85, fillColor: LEVEL_COLOURS[properties.level] || NO_LEVEL};
}

const day = (time) => (time ? time.slice(0, 10) : '?');
const number = (value, digits) => (value === null || value === undefined ? '–' : value.toFixed(digits));
const percent = (fraction) => (fraction === null || fraction === undefined ? '–' : number(fraction * 100, 1));
const period = (p) => `${day(p.period_start)} – ${day(p.period_end)}`;

// Built from text nodes, never HTML: parcel ids and attributes come from users' uploads.
function popup(p) {
  const list = document.createElement('dl');
  const entries = [['Parcel', p.parcel], ['Damaged', `${percent(p.damaged_fraction)} %`],
    ['Damaged area', `${number(p.damaged_ha, 2)} ha`], ['Parcel area', `${number(p.area_ha, 2)} ha`],
    ['Level', p.level || 'none'], ['Rank', p.rank ?? '–'], ['Period', period(p)], ['Job', p.job_id || '–']];
  for (const [term, value] of entries) {
    const dt = document.createElement('dt');
    const dd = document.createElement('dd');
    dt.textContent = term;
    dd.textContent = value;
    list.append(dt, dd);
  }
  return list;
}

function row(p, index) {
  const tr = document.createElement('tr');
  tr.tabIndex = 0;  // reachable and selectable by keyboard too
  tr.dataset.index = index;
  const cells = [p.parcel, p.level || '–', percent(p.damaged_fraction), number(p.damaged_ha, 2),
    number(p.area_ha, 2), p.classes, p.sources, period(p), p.job_id || '–'];
  for (const value of cells) {
    const td = document.createElement('td');
    td.textContent = value;
    tr.append(td);
  }
  tr.addEventListener('click', () => select(index, true));
  tr.addEventListener('keydown', (event) => { if (event.key === 'Enter') select(index, true); });
  return tr;
}

// One parcel at a time is outlined, on the map and in the table.
function select(index, zoom) {
  const layer = drawn[index];
  if (selected) selected.setStyle({color: '#333', weight: 1});
  document.querySelectorAll('#results tr.selected').forEach((tr) => tr.classList.remove('selected'));
  const tr = $(`#results tbody tr[data-index="${index}"]`);
  tr.classList.add('selected');
  selected = layer;
  if (!layer) return;
  layer.setStyle({color: SELECTED, weight: 4}).bringToFront();
  if (zoom) {
    map.fitBounds(layer.getBounds(), {maxZoom: 16});
    layer.openPopup();
  } else {
    tr.scrollIntoView({block: 'nearest'});
  }
}

// The map's view as an area of interest, within longitude/latitude range (a world-wide view
// reaches past it).
function useMapView() {
  const b = map.getBounds();
  const clamp = (value, limit) => Math.max(-limit, Math.min(limit, value)).toFixed(5);
  $('#aoi').value = [clamp(b.getWest(), 180), clamp(b.getSouth(), 90), clamp(b.getEast(), 180),
    clamp(b.getNorth(), 90)].join(',');
}

// The phrase and the filters are exclusive in the API: each form sends only its own.
$('#ask-form').addEventListener('submit', (event) => {
  event.preventDefault();
  run(new URLSearchParams({phrase: $('#phrase').value}));
});
$('#filters').addEventListener('submit', (event) => {
  event.preventDefault();
  run(filterParameters());
});
$('#use-view').addEventListener('click', useMapView);

legend();
$('#exports').hidden = true;
// The filters first, then the best-ranked parcels, so that the page opens on something.
fillFilters()
  .then(() => run(new URLSearchParams()))
  .catch(showError);
addQuicklooks().catch(showError);
