"""JSON Merge Patch (RFC 7396): applying one, and the body of every `PATCH` route."""

from __future__ import annotations

from typing import Any
from typing import ClassVar
from typing import TypeVar

from pydantic import BaseModel
from pydantic import ConfigDict
from pydantic import ValidationError
from pydantic import model_validator

from services.kernel.errors import validation_failed

T = TypeVar("T", bound=BaseModel)


def apply_merge_patch(target: Any, patch: Any) -> Any:
    """Return `target` with `patch` applied; `null` members delete, objects merge recursively."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = apply_merge_patch(result.get(key), value)
    return result


def patched(schema: type[T], current: dict[str, Any], patch: dict[str, Any]) -> T:
    """`current` with `patch` applied, validated by `schema`; a 422 naming the fields if not."""
    try:
        return schema.model_validate(apply_merge_patch(current, patch))
    except ValidationError as exc:
        raise validation_failed(exc) from exc


def only_writable(data: Any, writable: tuple[str, ...], read_only: tuple[str, ...]) -> Any:
    """`data` if it is an object naming only `writable` fields; a ValueError saying why not."""
    if not isinstance(data, dict):
        raise ValueError("a merge patch must be a JSON object of the fields to change")
    for key in data:
        if key in read_only:
            raise ValueError(f"'{key}' is maintained by the platform and cannot be patched")
        if key not in writable:
            raise ValueError(f"unknown field '{key}'; writable fields are: {', '.join(writable)}")
    return data


class MergePatch(BaseModel):
    """Base of a `PATCH` body: only the fields to change; `null` clears a field.

    A subclass names the models it patches, `class EventPatch(MergePatch, fields=EventFields,
    read=EventRead)`: the writable fields are those of `fields`, the read-only ones those
    `read` adds (said so in a 422); anything else is a 422 listing the writable ones.
    """

    model_config = ConfigDict(extra="allow")

    writable_fields: ClassVar[tuple[str, ...]] = ()
    read_only_fields: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(
        cls,
        *,
        fields: type[BaseModel] | None = None,
        read: type[BaseModel] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init_subclass__(**kwargs)
        if fields is not None:
            cls.writable_fields = tuple(fields.model_fields)
        if read is not None:
            cls.read_only_fields = tuple(
                f for f in read.model_fields if f not in cls.writable_fields
            )

    @model_validator(mode="before")
    @classmethod
    def only_writable_fields(cls, data: Any) -> Any:
        return only_writable(data, cls.writable_fields, cls.read_only_fields)

    def changes(self) -> dict[str, Any]:
        return dict(self.model_extra or {})
