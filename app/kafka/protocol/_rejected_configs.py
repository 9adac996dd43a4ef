"""The schemas of AlterConfigs, IncrementalAlterConfigs and DeleteGroups, refused by :mod:`._rejected`
(split from it to keep modules small; the answers are built there)."""

from __future__ import annotations

from collections.abc import Sequence

from ._schema import Bool, Int8, Int16, Int32, String, message
from .errors import ErrorCode

__all__ = [
    "AlterConfigsRequest",
    "AlterConfigsResource",
    "AlterConfigsResourceResponse",
    "AlterConfigsResponse",
    "AlterableConfig",
    "DeletableGroupResult",
    "DeleteGroupsRequest",
    "DeleteGroupsResponse",
    "IncrementalAlterConfigsRequest",
    "IncrementalAlterConfigsResource",
    "IncrementalAlterableConfig",
]


# -- AlterConfigs / IncrementalAlterConfigs ---------------------------------------------------------


@message
class AlterableConfig:
    name: String
    value: String | None


@message
class AlterConfigsResource:
    resource_type: Int8
    resource_name: String
    configs: tuple[AlterableConfig, ...]


@message
class AlterConfigsRequest:
    resources: tuple[AlterConfigsResource, ...]
    validate_only: Bool


@message
class IncrementalAlterableConfig:
    name: String
    config_operation: Int8
    value: String | None


@message
class IncrementalAlterConfigsResource:
    resource_type: Int8
    resource_name: String
    configs: tuple[IncrementalAlterableConfig, ...]


@message
class IncrementalAlterConfigsRequest:
    resources: tuple[IncrementalAlterConfigsResource, ...]
    validate_only: Bool


@message
class AlterConfigsResourceResponse:
    error_code: Int16 = ErrorCode.NONE
    error_message: String | None = None
    resource_type: Int8
    resource_name: String


@message
class AlterConfigsResponse:
    """The response of both AlterConfigs and IncrementalAlterConfigs (same layout)."""

    throttle_time_ms: Int32 = 0
    responses: Sequence[AlterConfigsResourceResponse]


# -- DeleteGroups -----------------------------------------------------------------------------------


@message
class DeleteGroupsRequest:
    groups_names: tuple[String, ...]


@message
class DeletableGroupResult:
    group_id: String
    error_code: Int16 = ErrorCode.NONE


@message
class DeleteGroupsResponse:
    throttle_time_ms: Int32 = 0
    results: Sequence[DeletableGroupResult]


