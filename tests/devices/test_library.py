"""The model files: shipped inside the package, and a user's own folder searched first."""

from __future__ import annotations

from pathlib import Path

import pytest

from spicecim import devices
from spicecim.devices import library
from spicecim.errors import SpecError


def test_the_models_ship_inside_the_package() -> None:
    root = Path(str(library.models_root()))
    assert root.parent == Path(devices.__file__).resolve().parents[1]
    assert {"hfox_stanford_asu", "hfox_stanford_v1"} <= set(library.available_models("memristor"))


def test_a_users_folder_adds_and_replaces_models(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    shipped = library.read_lib("memristor", "hfox_stanford_asu")
    (tmp_path / "memristor").mkdir()
    (tmp_path / "memristor" / "mine.lib").write_text(shipped.replace("Stanford", "Mine"))
    (tmp_path / "memristor" / "hfox_stanford_v1.lib").write_text(shipped)
    monkeypatch.setenv(library.MODELS_ENV, str(tmp_path))
    assert {"mine", "hfox_stanford_asu", "hfox_stanford_v1"} <= set(
        library.available_models("memristor"))
    assert "Mine" in library.read_lib("memristor", "mine")
    assert library.read_lib("memristor", "hfox_stanford_v1") == shipped
    assert devices.memristor("mine").name == "mine"
    assert library.read_lib("transistor", "nmos_access")  # the shipped ones still found
    monkeypatch.delenv(library.MODELS_ENV)
    with pytest.raises(SpecError, match="memristor model 'mine' not found"):
        library.read_lib("memristor", "mine")


def test_a_missing_folder_is_one_clear_error(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(library.MODELS_ENV, str(tmp_path / "absent"))
    with pytest.raises(SpecError, match="SPICECIM_DEVICE_MODELS=.* is not a folder"):
        library.read_lib("memristor", "hfox_stanford_asu")
