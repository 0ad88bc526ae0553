"""The Kubernetes scaler: the workers are the replicas of a Deployment, set through its scale
subresource (what ``kubectl scale`` and the HPA use), so no other field of the Deployment is
touched and the monitor needs only the ``get`` and ``patch`` verbs on ``deployments/scale``."""

import logging
import os

from kubernetes import client
from kubernetes import config as kube_config

from candela.scaling.actions import Scaler

LOG = logging.getLogger("candela.monitor")


class KubernetesScaler(Scaler):
    """Sets the replicas of Deployment ``deployment`` in ``namespace``."""

    name = "kubernetes"

    def __init__(self, deployment, namespace="default", api_client=None):
        self.deployment = deployment
        self.namespace = namespace
        self.api = client.AppsV1Api(api_client or client.ApiClient())

    @classmethod
    def from_config(cls, section):
        """From the ``[monitor]`` options ``kubernetes_deployment``, ``kubernetes_namespace`` and
        ``kubernetes_config``: ``in-cluster`` (the pod's service account), a kubeconfig path, or
        empty (in-cluster inside a pod, else the default kubeconfig); or ``kubernetes_host``, a
        bare API address without credentials (a local proxy such as ``kubectl proxy``, tests)."""
        deployment = (section.get("kubernetes_deployment", "") or "").strip()
        if not deployment:
            raise SystemExit("[monitor] action = kubernetes needs kubernetes_deployment")
        namespace = (section.get("kubernetes_namespace", "") or "").strip() or "default"
        host = (section.get("kubernetes_host", "") or "").strip()
        source = (section.get("kubernetes_config", "") or "").strip()
        configuration = client.Configuration()
        if host:
            configuration.host = host
        elif source == "in-cluster" or (not source and os.environ.get("KUBERNETES_SERVICE_HOST")):
            kube_config.load_incluster_config(client_configuration=configuration)
        else:
            kube_config.load_kube_config(config_file=source or None, client_configuration=configuration)
        return cls(deployment, namespace, client.ApiClient(configuration))

    def current(self):
        """The Deployment's desired replicas (``spec.replicas`` of its scale)."""
        scale = self.api.read_namespaced_deployment_scale(self.deployment, self.namespace)
        return scale.spec.replicas or 0

    def apply(self, decision, load):
        """Patch ``spec.replicas`` when it differs from the decision (an unchanged count is not
        written, so the Deployment's history and the API server's audit log stay quiet)."""
        before = self.current()
        done = {"action": self.name, "deployment": f"{self.namespace}/{self.deployment}",
                "workers": decision.workers, "previous": before, "reasons": list(decision.reasons)}
        if before == decision.workers:
            done["patched"] = False
            return done
        self.api.patch_namespaced_deployment_scale(self.deployment, self.namespace,
                                                   {"spec": {"replicas": decision.workers}})
        LOG.info("%s/%s scaled from %d to %d replicas", self.namespace, self.deployment, before, decision.workers)
        done["patched"] = True
        return done
