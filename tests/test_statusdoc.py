"""Status documents are replaced whole, and reach a final state on a full disk."""

import errno
import os

import pytest

from processes.statusdoc import mark_failed, write_status_document

ACCEPTED = ('<?xml version="1.0" encoding="UTF-8"?>\n<wps:ExecuteResponse xmlns:wps="http://www.opengis.net/'
            'wps/1.0.0" xmlns:ows="http://www.opengis.net/ows/1.1" service="WPS" version="1.0.0" '
            'xml:lang="en-US" serviceInstance="x" statusLocation="x"><wps:Process wps:processVersion="1">'
            '<ows:Identifier>P</ows:Identifier><ows:Title>P</ows:Title></wps:Process>'
            '<wps:Status creationTime="2026-01-01T00:00:00Z"><wps:ProcessAccepted>ok</wps:ProcessAccepted>'
            '</wps:Status></wps:ExecuteResponse>')


def test_a_polling_client_reads_the_old_or_the_new_document_never_half(tmp_path, monkeypatch):
    path = tmp_path / "job.xml"
    path.write_text("<old/>")
    seen = []
    real_replace = os.replace

    def replace(source, destination):
        seen.append((path.read_text(), open(source).read()))
        real_replace(source, destination)

    monkeypatch.setattr(os, "replace", replace)
    write_status_document(path, "<new/>")
    assert seen == [("<old/>", "<new/>")]
    assert path.read_text() == "<new/>" and [p.name for p in tmp_path.iterdir()] == ["job.xml"]


def test_on_a_full_disk_the_document_is_rewritten_in_place_and_nothing_partial_stays(tmp_path, monkeypatch):
    path = tmp_path / "job.xml"
    path.write_text(ACCEPTED)
    real_open = open

    def full_disk_open(file, mode="r", *args, **kwargs):
        if ".partial-" in str(file) and "w" in mode:
            handle = real_open(file, mode, *args, **kwargs)
            handle.close()
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_open(file, mode, *args, **kwargs)

    monkeypatch.setattr("builtins.open", full_disk_open)
    mark_failed(path, "The disk is full")
    monkeypatch.undo()
    text = path.read_text()
    assert "ProcessFailed" in text and "The disk is full" in text and "ProcessAccepted" not in text
    assert [p.name for p in tmp_path.iterdir()] == ["job.xml"], "no .partial file is left"


def test_other_write_errors_are_not_hidden(tmp_path):
    not_a_folder = tmp_path / "not-a-folder"
    not_a_folder.write_text("")
    with pytest.raises(OSError):
        write_status_document(not_a_folder / "x.xml", "<a/>")


def test_an_unreadable_document_still_ends_failed(wps_app, tmp_path):
    path = tmp_path / "job.xml"
    path.write_text(ACCEPTED[:200])  # cut short
    mark_failed(path, "The disk is full")
    from helpers.schemas import assert_valid

    doc = assert_valid(path.read_bytes())
    assert doc.xpath("//*[local-name()='ProcessFailed']") and "The disk is full" in path.read_text()
