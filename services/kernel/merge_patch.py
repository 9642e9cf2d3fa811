"""JSON Merge Patch (RFC 7396): applying one, and the body of every `PATCH` route."""

from __future__ import annotations

from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

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

    Subclasses name their `writable_fields` and `read_only_fields`; anything else is a 422.
    """

    model_config = ConfigDict(extra="allow")

    writable_fields: ClassVar[tuple[str, ...]] = ()
    read_only_fields: ClassVar[tuple[str, ...]] = ()

    @model_validator(mode="before")
    @classmethod
    def only_writable_fields(cls, data: Any) -> Any:
        return only_writable(data, cls.writable_fields, cls.read_only_fields)

    def changes(self) -> dict[str, Any]:
        return dict(self.model_extra or {})
