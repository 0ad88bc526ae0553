"""What the monitor does with a decision: the scalers it can drive, one interface.

A scaler is told the number of workers wanted (:class:`.decision.Decision`) and the load it
was decided on, and makes the cluster match it as far as it can; it answers a dict saying
what it did, which the monitor logs as JSON and exports. Scalers are chosen by name in the
``[monitor] action`` option (:data:`SCALERS`); each lives in its own module so that its
client library is imported only when it is used.
"""

import json
import logging

LOG = logging.getLogger("candela.monitor")


class Scaler:
    """Makes the cluster have ``decision.workers`` workers."""

    #: The ``[monitor] action`` name.
    name = None

    def current(self):
        """How many workers the cluster has now, or None when this scaler cannot tell."""
        return None

    def app(self):
        """A WSGI app for this scaler's own HTTP endpoints (served by the monitor beside its
        ``/metrics``), or None."""
        return None

    def apply(self, decision, load):
        """Carry out ``decision`` (the load it came from may be None); answer what was done."""
        raise NotImplementedError


class DryRun(Scaler):
    """Changes nothing: logs each decision with its reasons as one JSON line (the default)."""

    name = "dry-run"

    def apply(self, decision, load):
        done = {"action": self.name, "workers": decision.workers, "previous": decision.previous,
                "change": decision.change, "reasons": list(decision.reasons)}
        LOG.info(json.dumps(done))
        return done


def _kubernetes(section, store):
    from candela.scaling.kubernetes import KubernetesScaler  # imports the kubernetes client

    return KubernetesScaler.from_config(section)


def _openstack(section, store):
    try:
        from candela.scaling.openstack import OpenStackScaler
    except ImportError as error:
        raise SystemExit(f"[monitor] action = openstack needs candela.scaling.openstack and openstacksdk: {error}") \
            from None
    return OpenStackScaler.from_config(section, store=store)


#: ``[monitor] action`` name -> factory taking the ``[monitor]`` section (a mapping with ``get``)
#: and the job store (the OpenStack scaler drains hosts in it before deleting their servers).
#: Factories import their client library only when chosen.
SCALERS = {"dry-run": lambda section, store: DryRun(), "kubernetes": _kubernetes, "openstack": _openstack}


def scaler_for(section, store=None):
    """The scaler the ``[monitor]`` section's ``action`` names (SystemExit for an unknown one)."""
    action = (section.get("action", "") or "dry-run").strip()
    if action not in SCALERS:
        raise SystemExit(f"[monitor] action = {action!r}: use one of {', '.join(SCALERS)}")
    return SCALERS[action](section, store)
