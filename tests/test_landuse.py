"""Land-use classification data (layers/data/land_use_codes.json) and its loader."""

from __future__ import annotations

import json
import re

import pytest

from layers import landuse
from layers.landuse import (
    NEUTRAL_GREY,
    LandUseClass,
    all_classes,
    color_for,
    first_level,
    from_gb50137,
    gb50137_candidates,
    land_use,
    land_use_name,
)

HEX = re.compile(r"^#[0-9A-F]{6}$")


@pytest.fixture(scope="module")
def raw() -> dict:
    with landuse.DATA_FILE.open(encoding="utf-8") as fh:
        return json.load(fh)


# --- the JSON file itself ---------------------------------------------------------------


def test_top_level_fields(raw):
    for key in ("source", "notes", "classes", "gb50137_classes", "gb50137_to_2023"):
        assert key in raw
    assert raw["source"].strip()
    assert raw["notes"]


@pytest.mark.parametrize("table", ["classes", "gb50137_classes"])
def test_entries_have_all_fields(raw, table):
    required = {"code", "name_zh", "name_en", "level", "parent", "color", "color_source"}
    for entry in raw[table]:
        missing = required - entry.keys()
        assert not missing, (entry.get("code"), missing)
        assert entry["name_zh"].strip() and entry["name_en"].strip()
        assert entry["color_source"].strip(), entry["code"]


def test_codes_unique_across_both_tables(raw):
    codes = [e["code"] for e in raw["classes"]] + [e["code"] for e in raw["gb50137_classes"]]
    assert len(codes) == len(set(codes))


@pytest.mark.parametrize("table", ["classes", "gb50137_classes"])
def test_every_parent_exists_and_is_one_level_up(raw, table):
    by_code = {e["code"]: e for e in raw[table]}
    for entry in raw[table]:
        if entry["level"] == 1:
            assert entry["parent"] is None, entry["code"]
            continue
        parent = by_code.get(entry["parent"])
        assert parent is not None, (entry["code"], entry["parent"])
        assert parent["level"] == entry["level"] - 1
        assert entry["code"].startswith(parent["code"])


@pytest.mark.parametrize("table", ["classes", "gb50137_classes"])
def test_colours_are_upper_case_hex(raw, table):
    for entry in raw[table]:
        assert HEX.match(entry["color"]), (entry["code"], entry["color"])


def test_2023_level_matches_code_length(raw):
    for entry in raw["classes"]:
        assert re.fullmatch(r"\d+", entry["code"]), entry["code"]
        assert entry["level"] == {2: 1, 4: 2, 6: 3}[len(entry["code"])], entry["code"]


def test_gb50137_level_matches_code_length(raw):
    for entry in raw["gb50137_classes"]:
        assert re.fullmatch(r"[A-Z]\d?", entry["code"]), entry["code"]
        assert entry["level"] == len(entry["code"])


def test_first_level_2023_classes_are_01_to_24(raw):
    firsts = [e["code"] for e in raw["classes"] if e["level"] == 1]
    assert firsts == [f"{i:02d}" for i in range(1, 25)]


def test_inferred_colours_really_equal_their_parent(raw):
    """An entry that says it inherits must carry exactly its parent's colour."""
    for table in ("classes", "gb50137_classes"):
        by_code = {e["code"]: e for e in raw[table]}
        for entry in raw[table]:
            if entry["color_source"].startswith("inferred from parent"):
                assert entry["color"] == by_code[entry["parent"]]["color"], entry["code"]


def test_gb50137_mapping_covers_every_old_code_and_targets_exist(raw):
    new_codes = {e["code"] for e in raw["classes"]}
    old_codes = {e["code"] for e in raw["gb50137_classes"]}
    mapping = raw["gb50137_to_2023"]
    assert set(mapping) == old_codes
    for old, targets in mapping.items():
        assert isinstance(targets, list)
        assert len(targets) == len(set(targets)), old
        for target in targets:
            assert target in new_codes, (old, target)


# --- domain facts -------------------------------------------------------------------------

FIRST_LEVEL_2023 = {
    "01": "耕地",
    "07": "居住用地",
    "08": "公共管理与公共服务用地",
    "09": "商业服务业用地",
    "10": "工矿用地",
    "11": "仓储用地",
    "12": "交通运输用地",
    "13": "公用设施用地",
    "14": "绿地与开敞空间用地",
    "15": "特殊用地",
    "16": "留白用地",
    "17": "陆地水域",
    "23": "其他土地",
    "24": "其他海域",
}


@pytest.mark.parametrize(("code", "name"), sorted(FIRST_LEVEL_2023.items()))
def test_first_level_names(code, name):
    cls = land_use(code)
    assert cls is not None
    assert cls.name_zh == name
    assert cls.level == 1 and cls.parent is None


@pytest.mark.parametrize(
    ("code", "name", "parent"),
    [
        ("0101", "水田", "01"),
        ("0102", "水浇地", "01"),
        ("0103", "旱地", "01"),
        ("0701", "城镇住宅用地", "07"),
        ("0702", "城镇社区服务设施用地", "07"),
        ("0703", "农村宅基地", "07"),
        ("0704", "农村社区服务设施用地", "07"),
        ("0801", "机关团体用地", "08"),
        ("0901", "商业用地", "09"),
        ("0904", "其他商业服务业用地", "09"),
        ("1001", "工业用地", "10"),
        ("1002", "采矿用地", "10"),
        ("1003", "盐田", "10"),
        ("1101", "物流仓储用地", "11"),
        ("1102", "储备库用地", "11"),
        ("1207", "城镇村道路用地", "12"),
        ("1401", "公园绿地", "14"),
        ("1402", "防护绿地", "14"),
        ("1403", "广场用地", "14"),
        ("070101", "一类城镇住宅用地", "0701"),
        ("100102", "二类工业用地", "1001"),
    ],
)
def test_known_codes(code, name, parent):
    cls = land_use(code)
    assert isinstance(cls, LandUseClass)
    assert cls.code == code
    assert cls.name_zh == name
    assert cls.parent == parent
    assert cls.system == landuse.SYSTEM_2023


def test_second_level_ranges():
    def children(parent: str) -> list[str]:
        return [c.code for c in all_classes(2) if c.parent == parent]

    assert children("08") == [f"08{i:02d}" for i in range(1, 8)]  # no 0808-0810
    assert children("12") == [f"12{i:02d}" for i in range(1, 10)]
    assert children("13") == [f"13{i:02d}" for i in range(1, 13)]
    assert children("16") == []
    assert land_use("1313") is None  # 2020 trial numbering, not a 2023 code


def test_published_colours():
    """Values from 附录B of the 市级国土空间总体规划制图规范 colour table."""
    assert color_for("0701") == "#FFFF2D"
    assert color_for("0703") == "#FFD380"
    assert color_for("09") == "#FF0000"
    assert color_for("1001") == "#BB9674"
    assert color_for("1401") == "#00FF00"
    assert color_for("01") == "#F5F8DC"
    assert color_for("16") == "#FFFFFF"
    assert not land_use("0701").color_inferred
    assert land_use("070101").color_inferred


def test_english_names():
    assert land_use_name("0701", "en") == "Urban residential land"
    assert land_use_name("1001", lang="en") == "Industrial land"
    assert land_use_name("R2", "en") == "Class II residential land"


# --- lookups and fallbacks ----------------------------------------------------------------


@pytest.mark.parametrize(
    "variant", ["0701", " 0701 ", "07 01", "\t0701\n", "\uff10\uff17\uff10\uff11", "701", 701]
)
def test_lookup_is_whitespace_and_width_tolerant(variant):
    cls = land_use(variant)
    assert cls is not None and cls.code == "0701"


@pytest.mark.parametrize("variant", ["R2", "r2", " r2 ", "\uff32\uff12"])
def test_gb_lookup_is_case_tolerant(variant):
    cls = land_use(variant)
    assert cls is not None
    assert cls.code == "R2"
    assert cls.name_zh == "二类居住用地"
    assert cls.system == landuse.SYSTEM_GB50137


@pytest.mark.parametrize("bad", [None, "", "   ", "99", "0799", "XYZ", "R7", "07-01"])
def test_unknown_codes(bad):
    assert land_use(bad) is None
    assert land_use_name(bad) is None


def test_land_use_name_default_language_and_bad_language():
    assert land_use_name("1401") == "公园绿地"
    assert land_use_name("01") == "耕地"
    with pytest.raises(ValueError):
        land_use_name("0701", "fr")  # type: ignore[arg-type]


def test_color_falls_back_to_parent_then_grey():
    assert color_for("070199") == color_for("0701")  # unknown third level -> 0701
    assert color_for("0799") == color_for("07")  # unknown second level -> 07
    assert color_for("R21") == color_for("R2")  # GB small class -> mid class
    assert color_for("99") == NEUTRAL_GREY
    assert color_for("9901") == NEUTRAL_GREY
    assert color_for("nonsense") == NEUTRAL_GREY
    assert color_for(None) == NEUTRAL_GREY
    assert color_for("") == NEUTRAL_GREY
    assert NEUTRAL_GREY == "#BFBFBF"


def test_every_known_code_has_a_colour():
    for cls in all_classes(system="all"):
        assert HEX.match(color_for(cls.code)), cls.code


def test_first_level():
    assert first_level("070101").code == "07"
    assert first_level("0701").name_zh == "居住用地"
    assert first_level("07").code == "07"
    assert first_level("0799").code == "07"  # well-formed but unlisted
    assert first_level("1401").name_zh == "绿地与开敞空间用地"
    assert first_level("r2").code == "R"
    assert first_level("99") is None
    assert first_level("junk") is None


# --- GB 50137 ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("R2", "0701"),
        ("R1", "0701"),
        ("M1", "1001"),
        ("M3", "1001"),
        ("G1", "1401"),
        ("G2", "1402"),
        ("G3", "1403"),
        ("A1", "0801"),
        ("A3", "0804"),
        ("A5", "0806"),
        ("B1", "0901"),
        ("W1", "1101"),
        ("S1", "1207"),
        ("S2", "1206"),
        ("U9", "1312"),
        ("R", "07"),
        ("A", "08"),
        ("B", "09"),
        ("G", "14"),
        ("r2", "0701"),
        (" m1 ", "1001"),
    ],
)
def test_from_gb50137(old, new):
    assert from_gb50137(old) == new


def test_from_gb50137_edge_cases():
    assert from_gb50137("R21") == "0701"  # small class falls back to its mid class
    assert from_gb50137("H") is None  # aggregate, no single 2023 equivalent
    assert from_gb50137("0701") is None  # already a 2023 code
    assert from_gb50137("X9") is None
    assert from_gb50137(None) is None
    assert gb50137_candidates("A3") == ("0804", "0802")
    assert gb50137_candidates("nope") == ()


def test_gb_residential_is_yellow():
    r = color_for("R")
    red, green, blue = (int(r[i : i + 2], 16) for i in (1, 3, 5))
    assert red == 255 and green == 255 and blue < 64


# --- all_classes ------------------------------------------------------------------------


def test_all_classes():
    everything = all_classes()
    assert len({c.code for c in everything}) == len(everything)
    assert all(c.system == landuse.SYSTEM_2023 for c in everything)
    assert [c.code for c in all_classes(1)] == [f"{i:02d}" for i in range(1, 25)]
    assert all(len(c.code) == 4 for c in all_classes(2))
    assert all(len(c.code) == 6 for c in all_classes(3))
    assert len(all_classes(1)) + len(all_classes(2)) + len(all_classes(3)) == len(everything)
    gb = all_classes(system="gb50137")
    assert {"R", "R2", "M1", "G1"} <= {c.code for c in gb}
    assert len(all_classes(system="all")) == len(everything) + len(gb)
    with pytest.raises(ValueError):
        all_classes(system="1990")  # type: ignore[arg-type]


def test_all_classes_returns_a_copy():
    first = all_classes()
    first.clear()
    assert all_classes()


def test_class_is_frozen():
    cls = land_use("0701")
    with pytest.raises(AttributeError):
        cls.color = "#000000"  # type: ignore[misc]


def test_json_is_loaded_once():
    landuse._catalogue.cache_clear()
    land_use("0701")
    color_for("R2")
    all_classes()
    assert landuse._catalogue.cache_info().misses == 1


def test_source_and_notes_exposed():
    assert "附录B" in landuse.colour_source()
    assert any("inferred" in n for n in landuse.data_notes())
