"""CRD schema validation as the real API words it (422 Invalid), defaulting/pruning, examples."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from kube_contract_support import ROOT, Cluster, isc

from fma.kube import Invalid, KubeError


def rejected(cluster: Cluster, ns: str, plural: str, body: dict) -> str:
    with pytest.raises(Invalid) as err:
        cluster.rest.create(plural, ns, body)
    assert err.value.status == 422 and err.value.reason == "Invalid"
    return err.value.message


def test_out_of_range_port_is_rejected_with_the_api_wording(cluster: Cluster, ns: str) -> None:
    msg = rejected(cluster, ns, "inferenceserverconfigs", isc("bad", port=70000))
    assert msg.endswith('InferenceServerConfig.fma.llm-d.ai "bad" is invalid: spec.modelServerConfig.port: '
                        "Invalid value: 70000: spec.modelServerConfig.port in body should be less than or equal "
                        "to 65535")


def test_missing_required_field_is_a_required_value_error(cluster: Cluster, ns: str) -> None:
    body = isc("noport")
    del body["spec"]["modelServerConfig"]["port"]
    assert "spec.modelServerConfig.port: Required value" in rejected(cluster, ns, "inferenceserverconfigs", body)


def test_duplicate_launcher_config_name_is_a_duplicate_value(cluster: Cluster, ns: str) -> None:
    body = {"apiVersion": "fma.llm-d.ai/v1alpha1", "kind": "LauncherPopulationPolicy", "metadata": {"name": "d"},
            "spec": {"enhancedNodeSelector": {"labelSelector": {}},
                     "countForLauncher": [{"launcherConfigName": "a", "launcherCount": 1},
                                          {"launcherConfigName": "a", "launcherCount": 2}]}}
    msg = rejected(cluster, ns, "launcherpopulationpolicies", body)
    assert 'spec.countForLauncher[1]: Duplicate value: map[string]interface {}{"launcherConfigName":"a"}' in msg


def test_wrong_type_is_reported_with_the_expected_type(cluster: Cluster, ns: str) -> None:
    msg = rejected(cluster, ns, "inferenceserverconfigs", isc("t", port="eighty"))
    assert 'spec.modelServerConfig.port: Invalid value: "string": spec.modelServerConfig.port in body must be of ' \
           'type integer: "string"' in msg


def test_launcher_template_without_inference_server_container_is_rejected(cluster: Cluster, ns: str) -> None:
    body = {"apiVersion": "fma.llm-d.ai/v1alpha1", "kind": "LauncherConfig", "metadata": {"name": "lc"},
            "spec": {"maxInstances": 1, "podTemplate": {"spec": {"containers": [{"name": "other"}]}}}}
    assert "the pod template must have a container named inference-server" in \
        rejected(cluster, ns, "launcherconfigs", body)


def test_max_instances_below_one_is_rejected(cluster: Cluster, ns: str) -> None:
    body = {"apiVersion": "fma.llm-d.ai/v1alpha1", "kind": "LauncherConfig", "metadata": {"name": "z"},
            "spec": {"maxInstances": 0}}
    assert "spec.maxInstances in body should be greater than or equal to 1" in \
        rejected(cluster, ns, "launcherconfigs", body)


def test_unknown_fields_are_pruned_or_rejected_when_strict(cluster: Cluster, ns: str) -> None:
    body = isc("u")
    body["spec"]["surprise"] = 1
    out = cluster.rest.create("inferenceserverconfigs", ns, body)
    assert "surprise" not in out["spec"]
    body["metadata"]["name"] = "u2"
    with pytest.raises(KubeError) as err:
        cluster.rest.call("POST", f"/apis/fma.llm-d.ai/v1alpha1/namespaces/{ns}/inferenceserverconfigs", body,
                          query={"fieldValidation": "Strict"})
    assert err.value.status == 400 and 'unknown field "spec.surprise"' in err.value.message


@pytest.mark.parametrize("path", sorted((ROOT / "crds" / "examples").glob("*.yaml")), ids=lambda p: p.name)
def test_example_crs_are_accepted(cluster: Cluster, ns: str, path: Path) -> None:
    plural = {"InferenceServerConfig": "inferenceserverconfigs", "LauncherConfig": "launcherconfigs",
              "LauncherPopulationPolicy": "launcherpopulationpolicies"}
    for doc in yaml.safe_load_all(path.read_text()):
        out = cluster.rest.create(plural[doc["kind"]], ns, doc)
        assert out["spec"] == doc["spec"]
