"""GATEWAY_MEMBERSHIP_API_KEY_FILE: the gateway reads its key from the file compose's init service writes."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from gateway.settings import Settings


def test_the_key_is_read_from_the_file_when_none_is_set(tmp_path: Path) -> None:
    key_file = tmp_path / "gateway-api-key"
    key_file.write_text("tgk_from_the_file\n")
    settings = Settings(membership_api_key="", membership_api_key_file=str(key_file))
    assert settings.membership_api_key.get_secret_value() == "tgk_from_the_file"


def test_a_key_set_directly_wins_over_the_file(tmp_path: Path) -> None:
    key_file = tmp_path / "gateway-api-key"
    key_file.write_text("tgk_from_the_file\n")
    settings = Settings(membership_api_key="tgk_direct", membership_api_key_file=str(key_file))
    assert settings.membership_api_key.get_secret_value() == "tgk_direct"


def test_a_missing_key_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="not a file"):
        Settings(membership_api_key="", membership_api_key_file=str(tmp_path / "absent"))
