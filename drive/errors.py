"""Typed drive errors; each carries a stable ``code`` that the HTTP layer shows to clients."""

from __future__ import annotations


class DriveError(Exception):
    code = "drive_error"


class InvalidNameError(DriveError):
    code = "invalid_name"


class NameTakenError(DriveError):
    code = "name_taken"


class EntryNotFoundError(DriveError):
    code = "not_found"


class NotAFolderError(DriveError):
    code = "not_a_folder"


class NotAFileError(DriveError):
    code = "not_a_file"


class CycleError(DriveError):
    """Moving a folder into itself or one of its descendants."""

    code = "cycle"


class TrashedError(DriveError):
    """The entry (or a folder above it) is in the trash: restore it first."""

    code = "in_trash"


class NotInTrashError(DriveError):
    code = "not_in_trash"


class TooLargeError(DriveError):
    code = "too_large"


class QuotaExceededError(DriveError):
    code = "quota_exceeded"


class ObjectStoreError(DriveError):
    """Object storage failed or is unreachable."""

    code = "storage_unavailable"


class ObjectMissingError(ObjectStoreError):
    code = "object_missing"


class LockTimeoutError(DriveError):
    """Another operation on the same workspace's tree held the lock for too long."""

    code = "busy"


class DocumentUnavailableError(DriveError):
    """The collaborative document of a text file could not be opened or written."""

    code = "document_unavailable"


class TreeStoreError(DriveError):
    """The tree's metadata store failed or is unreachable."""

    code = "storage_unavailable"
