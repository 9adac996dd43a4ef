"""The schemas of AlterConfigs, IncrementalAlterConfigs and DeleteGroups, refused by :mod:`._rejected`
(split from it to keep modules small; the answers are built there)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ._schema import BOOL, INT8, INT16, INT32, STRING, Array, Field, Struct
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


@dataclass(frozen=True, slots=True, kw_only=True)
class AlterableConfig:
    name: str
    value: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class AlterConfigsResource:
    resource_type: int
    resource_name: str
    configs: tuple[AlterableConfig, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class AlterConfigsRequest:
    resources: tuple[AlterConfigsResource, ...]
    validate_only: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class IncrementalAlterableConfig:
    name: str
    config_operation: int
    value: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class IncrementalAlterConfigsResource:
    resource_type: int
    resource_name: str
    configs: tuple[IncrementalAlterableConfig, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class IncrementalAlterConfigsRequest:
    resources: tuple[IncrementalAlterConfigsResource, ...]
    validate_only: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class AlterConfigsResourceResponse:
    error_code: int = ErrorCode.NONE
    error_message: str | None = None
    resource_type: int
    resource_name: str


@dataclass(frozen=True, slots=True, kw_only=True)
class AlterConfigsResponse:
    """The response of both AlterConfigs and IncrementalAlterConfigs (same layout)."""

    throttle_time_ms: int = 0
    responses: Sequence[AlterConfigsResourceResponse]


ALTER_CONFIGS_REQUEST = Struct(
    AlterConfigsRequest,
    Field(
        "resources",
        Array(
            Struct(
                AlterConfigsResource,
                Field("resource_type", INT8),
                Field("resource_name", STRING),
                Field(
                    "configs",
                    Array(Struct(AlterableConfig, Field("name", STRING), Field("value", STRING, nullable_since=0))),
                ),
            )
        ),
    ),
    Field("validate_only", BOOL),
)

INCREMENTAL_ALTER_CONFIGS_REQUEST = Struct(
    IncrementalAlterConfigsRequest,
    Field(
        "resources",
        Array(
            Struct(
                IncrementalAlterConfigsResource,
                Field("resource_type", INT8),
                Field("resource_name", STRING),
                Field(
                    "configs",
                    Array(
                        Struct(
                            IncrementalAlterableConfig,
                            Field("name", STRING),
                            Field("config_operation", INT8),
                            Field("value", STRING, nullable_since=0),
                        )
                    ),
                ),
            )
        ),
    ),
    Field("validate_only", BOOL),
)

ALTER_CONFIGS_RESPONSE = Struct(
    AlterConfigsResponse,
    Field("throttle_time_ms", INT32),
    Field(
        "responses",
        Array(
            Struct(
                AlterConfigsResourceResponse,
                Field("error_code", INT16),
                Field("error_message", STRING, nullable_since=0),
                Field("resource_type", INT8),
                Field("resource_name", STRING),
            )
        ),
    ),
)


# -- DeleteGroups -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class DeleteGroupsRequest:
    groups_names: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class DeletableGroupResult:
    group_id: str
    error_code: int = ErrorCode.NONE


@dataclass(frozen=True, slots=True, kw_only=True)
class DeleteGroupsResponse:
    throttle_time_ms: int = 0
    results: Sequence[DeletableGroupResult]


DELETE_GROUPS_REQUEST = Struct(DeleteGroupsRequest, Field("groups_names", Array(STRING)))

DELETE_GROUPS_RESPONSE = Struct(
    DeleteGroupsResponse,
    Field("throttle_time_ms", INT32),
    Field("results", Array(Struct(DeletableGroupResult, Field("group_id", STRING), Field("error_code", INT16)))),
)
