"""The emulator decodes the protobuf bodies kubectl's typed clients send (bytes captured
from `kubectl create namespace x` and `kubectl create configmap c --from-literal=a=b`)."""

from __future__ import annotations

import pytest

from fma.kube.emulator import protobuf
from fma.kube.emulator.errors import ApiError

NAMESPACE = (b'k8s\x00\n\x0f\n\x02v1\x12\tNamespace\x12\x19\n\x11\n\x01x\x12\x00\x1a\x00"\x00*\x002\x008\x00B\x00'
             b'\x12\x00\x1a\x02\n\x00\x1a\x00"\x00')
CONFIGMAP = (b'k8s\x00\n\x0f\n\x02v1\x12\tConfigMap\x12\x1b\n\x11\n\x01c\x12\x00\x1a\x00"\x00*\x002\x008\x00B\x00'
             b'\x12\x06\n\x01a\x12\x01b\x1a\x00"\x00')


def test_protobuf_namespace_from_kubectl_decodes_to_its_json_form_without_empty_fields() -> None:
    assert protobuf.decode(NAMESPACE) == {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"},
                                          "spec": {}}


def test_protobuf_configmap_from_kubectl_keeps_its_data_map() -> None:
    assert protobuf.decode(CONFIGMAP) == {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"},
                                          "data": {"a": "b"}}


def test_protobuf_of_an_undescribed_kind_is_415_naming_the_kind_and_the_json_way() -> None:
    body = NAMESPACE.replace(b"\x0f\n\x02v1\x12\tNamespace", b"\x0f\n\x02v1\x12\tNamespacf")
    with pytest.raises(ApiError) as err:
        protobuf.decode(body)
    assert err.value.code == 415 and "Namespacf" in str(err.value.status()["message"])
    assert "kubectl apply -f" in err.value.status()["message"]


def test_protobuf_body_cut_short_is_a_400_not_a_crash() -> None:
    with pytest.raises(ApiError) as err:
        protobuf.decode(CONFIGMAP[:-9])
    assert err.value.code == 400


def test_content_type_with_parameters_is_still_protobuf() -> None:
    assert protobuf.is_protobuf("application/vnd.kubernetes.protobuf; charset=binary")
    assert not protobuf.is_protobuf("application/json")
