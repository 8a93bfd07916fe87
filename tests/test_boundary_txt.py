"""Tests for the 界址点坐标 TXT parser and writer (pure Python, no database)."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import pyproj
import pytest
import shapely
from shapely.geometry import LinearRing, LineString, MultiPolygon, Point, Polygon

from layers.formats.boundary_txt import (
    BEIJING1954,
    CGCS2000,
    XIAN1980,
    BoundaryTxt,
    BoundaryTxtError,
    TxtParcelOut,
    TxtProblem,
    crs_for,
    gauss_kruger_params,
    known_gauss_kruger_epsg,
    parse_boundary_txt,
    write_boundary_txt,
)

# The real-format sample (GBK, CRLF) from shared/samples/, kept in the repo.
SAMPLE_PATH = Path(__file__).resolve().parent / "data" / "redline_example.txt"
# The same content as text, for tests that derive variants from it.
SAMPLE_TEXT = """[属性描述]
格式版本号=1.0
数据产生单位=内乡县某测绘公司
数据产生日期=2024-05-01
坐标系=2000国家大地坐标系
几度分带=3
投影类型=高斯克吕格
计量单位=米
带号=37
精度=0.001
转换参数=,,,,,,
[地块坐标]
6,8.5476,NX-2024-001,示例地块,面,,,,@
J1,1,3658059.919,37579396.074
J2,1,3658062.190,37579676.304
J3,1,3658195.738,37579731.268
J4,1,3658339.466,37579674.052
J5,1,3658337.195,37579393.830
J1,1,3658059.919,37579396.074
"""

# Reference point (DOMAIN.md): lon 111.84, lat 33.06 in EPSG:4490 is this in EPSG:4525.
REF_LON, REF_LAT = 111.84, 33.06
REF_N, REF_E = 3659716.061, 37578448.671

STANDARD_HEADER = {
    "格式版本号": "1.0",
    "数据产生单位": "内乡县某测绘公司",
    "数据产生日期": "2024-05-01",
    "坐标系": "2000国家大地坐标系",
    "几度分带": "3",
    "投影类型": "高斯克吕格",
    "计量单位": "米",
    "带号": "37",
    "精度": "0.001",
    "转换参数": ",,,,,,",
}
# With the standard header, the parcel header is line 13 and the first point line 14.
HEAD_LINE, FIRST_POINT = 13, 14

# A 100 m square (1 ha) whose first vertex is the reference point; clockwise on the map.
SQUARE = [
    (REF_E, REF_N),
    (REF_E + 100, REF_N),
    (REF_E + 100, REF_N - 100),
    (REF_E, REF_N - 100),
]


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def sample_bytes() -> bytes:
    return SAMPLE_PATH.read_bytes()


def header_lines(changes: dict[str, str | None] | None = None, section: bool = True) -> list[str]:
    values = dict(STANDARD_HEADER)
    for key, value in (changes or {}).items():
        if value is None:
            values.pop(key, None)
        else:
            values[key] = value
    lines = ["[属性描述]"] if section else []
    return lines + [f"{k}={v}" for k, v in values.items()]


def point_lines(
    coords: list[tuple[float, float]],
    *,
    ring: int = 1,
    start: int = 1,
    swap: bool = False,
    close: bool = True,
    prefix_off: bool = False,
) -> list[str]:
    """Point lines for (easting, northing) coords, X = northing unless swapped."""
    out = []
    pts = list(coords) + ([coords[0]] if close else [])
    for i, (e, n) in enumerate(pts):
        if prefix_off:
            e -= 37_000_000
        name = f"J{start + i}" if i < len(coords) else f"J{start}"
        x, y = (e, n) if swap else (n, e)
        out.append(f"{name},{ring},{x:.3f},{y:.3f}")
    return out


def parcel_head(count: int | str, *, area: str = "1.0000", no: str = "NX-1", kind: str = "面"):
    return f"{count},{area},{no},测试地块,{kind},,,,@"


def txt(lines: list[str], *, encoding: str = "gbk", eol: str = "\r\n") -> bytes:
    return (eol.join(lines) + eol).encode(encoding)


def square_file(**header_changes: str | None) -> bytes:
    return txt(header_lines(header_changes) + ["[地块坐标]", parcel_head(5)] + point_lines(SQUARE))


def warnings_with(result: BoundaryTxt, text: str) -> list[TxtProblem]:
    return [w for w in result.warnings if text in w.message]


def errors_of(data: bytes, **kwargs) -> list[TxtProblem]:
    with pytest.raises(BoundaryTxtError) as info:
        parse_boundary_txt(data, **kwargs)
    assert isinstance(info.value, ValueError)
    assert info.value.problems, "an error must carry problems"
    for p in info.value.problems:
        assert isinstance(p, TxtProblem)
        if p.line is not None:  # Chinese for users, English in brackets
            assert p.message.startswith(f"第 {p.line} 行：")
            assert f"(line {p.line}: " in p.message
    return info.value.problems


def only_error(data: bytes, text: str, line: int | None, **kwargs) -> TxtProblem:
    problems = errors_of(data, **kwargs)
    hits = [p for p in problems if text in p.message]
    assert hits, f"no problem mentioning {text!r} in {problems}"
    assert hits[0].line == line, problems
    return hits[0]


def same_geometry(a, b, tolerance: float = 0.0005) -> bool:
    """Same structure, and every coordinate within ``tolerance`` (per axis, as rounded)."""
    a, b = shapely.normalize(a), shapely.normalize(b)
    if a.geom_type != b.geom_type or shapely.get_num_geometries(a) != shapely.get_num_geometries(b):
        return False
    ca, cb = shapely.get_coordinates(a), shapely.get_coordinates(b)
    if ca.shape != cb.shape or not shapely.equals_exact(a, b, tolerance=2 * tolerance):
        return False
    return float(abs(ca - cb).max()) <= tolerance + 1e-6


# --------------------------------------------------------------------------------------------
# the real sample
# --------------------------------------------------------------------------------------------


def test_inline_copy_matches_shared_sample():
    assert sample_bytes() == SAMPLE_TEXT.replace("\n", "\r\n").encode("gbk")


def test_real_sample():
    result = parse_boundary_txt(sample_bytes())
    assert result.encoding == "gbk"
    assert result.epsg == 4525
    assert (result.datum, result.zone, result.zone_width) == (CGCS2000, 37, 3)
    assert result.has_zone_prefix and not result.axes_swapped
    assert result.central_meridian == 111
    assert result.warnings == []
    assert result.header["坐标系"] == "2000国家大地坐标系"
    assert result.header["转换参数"] == ",,,,,,"
    [parcel] = result.parcels
    assert parcel.header_line == 13
    assert parcel.point_count == 6
    assert parcel.parcel_no == "NX-2024-001"
    assert parcel.name == "示例地块"
    assert parcel.kind == "面"
    assert parcel.ring_numbers == [1]
    assert parcel.ring_lines == [[14, 15, 16, 17, 18, 19]]
    assert parcel.point_names == [["J1", "J2", "J3", "J4", "J5", "J1"]]
    ring = parcel.rings[0]
    assert ring[0] == ring[-1] == (37579396.074, 3658059.919)
    # Both the stated area and the area of the coordinates are exposed; here they agree.
    assert parcel.area == 8.5476
    assert parcel.computed_area_ha() == pytest.approx(8.5476, rel=0.02)
    assert parcel.polygon().area == pytest.approx(85475.52, abs=0.01)
    assert parcel.polygon().is_valid


def test_reference_point_converts_back_to_lon_lat():
    result = parse_boundary_txt(square_file())
    assert result.epsg == 4525
    e, n = result.parcels[0].rings[0][0]
    assert (e, n) == (REF_E, REF_N)
    to_geo = pyproj.Transformer.from_crs(result.epsg, 4490, always_xy=True)
    lon, lat = to_geo.transform(e, n)
    assert lon == pytest.approx(REF_LON, abs=1e-7)
    assert lat == pytest.approx(REF_LAT, abs=1e-7)
    to_proj = pyproj.Transformer.from_crs(4490, 4525, always_xy=True)
    e2, n2 = to_proj.transform(REF_LON, REF_LAT)
    assert (e2, n2) == (pytest.approx(REF_E, abs=0.01), pytest.approx(REF_N, abs=0.01))


def test_reference_point_without_prefix_is_cm_variant():
    e, n = pyproj.Transformer.from_crs(4490, 4546, always_xy=True).transform(REF_LON, REF_LAT)
    assert (e, n) == (pytest.approx(REF_E - 37_000_000, abs=0.001), pytest.approx(REF_N, abs=0.001))
    result = parse_boundary_txt(
        txt(header_lines() + ["[地块坐标]", parcel_head(5)] + point_lines(SQUARE, prefix_off=True))
    )
    assert result.epsg == 4546
    assert not result.has_zone_prefix
    assert (result.zone, result.central_meridian) == (37, 111)
    lon, lat = pyproj.Transformer.from_crs(4546, 4490, always_xy=True).transform(
        *result.parcels[0].rings[0][0]
    )
    assert (lon, lat) == (pytest.approx(REF_LON, abs=1e-7), pytest.approx(REF_LAT, abs=1e-7))


# --------------------------------------------------------------------------------------------
# CRS registry against pyproj
# --------------------------------------------------------------------------------------------

_DATUM_NAMES = {CGCS2000: "CGCS2000", XIAN1980: "Xian 1980", BEIJING1954: "Beijing 1954"}


def _pyproj_gk(code: int) -> tuple[str, float, float]:
    crs = pyproj.CRS.from_epsg(code)
    params = {p.name: p.value for p in crs.coordinate_operation.params}
    return crs.name, params["Longitude of natural origin"], params["False easting"]


@pytest.mark.parametrize("datum", [CGCS2000, XIAN1980, BEIJING1954])
def test_three_degree_formulas_match_pyproj(datum):
    first_prefixed, first_cm = {
        CGCS2000: (4513, 4534),
        XIAN1980: (2349, 2370),
        BEIJING1954: (2401, 2422),
    }[datum]
    for zone in range(25, 46):
        cm = 3 * zone
        code = crs_for(datum, 3, zone, None, True)
        assert code == first_prefixed + (zone - 25)
        assert crs_for(datum, 3, None, cm, True) == code
        name, lon0, false_e = _pyproj_gk(code)
        assert name == f"{_DATUM_NAMES[datum]} / 3-degree Gauss-Kruger zone {zone}"
        assert (lon0, false_e) == (cm, zone * 1_000_000 + 500_000)

        code = crs_for(datum, 3, None, cm, False)
        assert code == first_cm + (cm - 75) // 3
        assert crs_for(datum, 3, zone, None, False) == code
        name, lon0, false_e = _pyproj_gk(code)
        assert name == f"{_DATUM_NAMES[datum]} / 3-degree Gauss-Kruger CM {cm}E"
        assert (lon0, false_e) == (cm, 500_000)


@pytest.mark.parametrize("datum", [CGCS2000, XIAN1980, BEIJING1954])
def test_six_degree_codes_match_pyproj(datum):
    for zone in range(13, 24):
        cm = 6 * zone - 3
        code = crs_for(datum, 6, zone, None, True)
        name, lon0, false_e = _pyproj_gk(code)
        assert name == f"{_DATUM_NAMES[datum]} / Gauss-Kruger zone {zone}"
        assert (lon0, false_e) == (cm, zone * 1_000_000 + 500_000)
        code = crs_for(datum, 6, None, cm, False)
        name, lon0, false_e = _pyproj_gk(code)
        assert name == f"{_DATUM_NAMES[datum]} / Gauss-Kruger CM {cm}E"
        assert (lon0, false_e) == (cm, 500_000)
    if datum == CGCS2000:  # the brief's formulas
        assert [crs_for(datum, 6, z, None, True) for z in (13, 23)] == [4491, 4501]
        assert [crs_for(datum, 6, z, None, False) for z in (13, 23)] == [4502, 4512]


def test_named_county_codes():
    assert crs_for(CGCS2000, 3, 37, None, True) == 4525
    assert crs_for(CGCS2000, 3, None, 111, False) == 4546
    assert crs_for(XIAN1980, 3, 37, None, True) == 2361
    assert crs_for(XIAN1980, 3, None, 111, False) == 2382
    assert crs_for(BEIJING1954, 3, 37, None, True) == 2413
    assert crs_for(BEIJING1954, 3, None, 111, False) == 2434
    assert crs_for(CGCS2000, 3, 37, 111, True) == 4525  # zone and CM may both be given


def test_gauss_kruger_params_inverts_crs_for():
    codes = known_gauss_kruger_epsg()
    assert len(codes) == 3 * 2 * (21 + 11)
    for code in codes:
        p = gauss_kruger_params(code)
        assert crs_for(p.datum, p.zone_width, p.zone, p.central_meridian, p.prefixed) == code
        datum, _width, zone, cm, prefixed = p  # a plain tuple too
        name = pyproj.CRS.from_epsg(code).name
        assert name.startswith(_DATUM_NAMES[datum])
        assert (f"zone {zone}" in name) == prefixed
        assert (f"CM {cm}E" in name) == (not prefixed)
    assert tuple(gauss_kruger_params(4525)) == (CGCS2000, 3, 37, 111, True)
    assert tuple(gauss_kruger_params(4546)) == (CGCS2000, 3, 37, 111, False)


@pytest.mark.parametrize("code", [4490, 4326, 3857, 32649, 0, 99999])
def test_gauss_kruger_params_rejects_unknown(code):
    with pytest.raises(ValueError, match="not a Chinese Gauss-Kruger"):
        gauss_kruger_params(code)


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (("WGS84", 3, 37, None, True), "unknown datum"),
        ((CGCS2000, 4, 37, None, True), "unknown datum"),
        ((CGCS2000, 3, None, None, True), "need a zone"),
        ((CGCS2000, 3, 24, None, True), "no EPSG code"),
        ((CGCS2000, 6, 37, None, True), "no EPSG code"),
        ((CGCS2000, 3, None, 112, False), "not the central meridian"),
        ((CGCS2000, 6, None, 114, False), "not the central meridian"),
        ((CGCS2000, 3, 38, 111, True), "does not have central meridian"),
    ],
)
def test_crs_for_rejects(args, match):
    with pytest.raises(ValueError, match=match):
        crs_for(*args)


# --------------------------------------------------------------------------------------------
# accepted variants (each with a warning)
# --------------------------------------------------------------------------------------------


def test_standard_file_has_no_warnings():
    result = parse_boundary_txt(square_file())
    assert result.warnings == []
    assert result.parcels[0].rings[0] == [*SQUARE, SQUARE[0]]
    assert result.parcels[0].computed_area_ha() == pytest.approx(1.0)


@pytest.mark.parametrize("prefix_off", [False, True])
def test_swapped_axes(prefix_off):
    data = txt(
        header_lines()
        + ["[地块坐标]", parcel_head(5)]
        + point_lines(SQUARE, swap=True, prefix_off=prefix_off)
    )
    result = parse_boundary_txt(data)
    assert result.axes_swapped
    assert result.epsg == (4546 if prefix_off else 4525)
    [warning] = warnings_with(result, "互换")
    assert warning.line == FIRST_POINT
    assert "swapped" in warning.message
    offset = 37_000_000 if prefix_off else 0
    assert result.parcels[0].rings[0][0] == (pytest.approx(REF_E - offset), REF_N)


def test_missing_header_keys():
    result = parse_boundary_txt(square_file(格式版本号=None, 精度=None, 转换参数=None))
    assert result.epsg == 4525
    [warning] = warnings_with(result, "缺少键")
    assert "格式版本号" in warning.message and "精度" in warning.message
    assert "转换参数" in warning.message


def test_reordered_header_keys():
    lines = ["[属性描述]", "带号=37", "坐标系=2000国家大地坐标系"] + [
        f"{k}={v}" for k, v in STANDARD_HEADER.items() if k not in ("带号", "坐标系")
    ]
    result = parse_boundary_txt(txt(lines + ["[地块坐标]", parcel_head(5)] + point_lines(SQUARE)))
    assert result.epsg == 4525
    [warning] = warnings_with(result, "顺序")
    assert warning.line == 3


@pytest.mark.parametrize("value", ["3度带", "3", "三度带", "3度分带"])
def test_fendai_key_variant(value):
    lines = header_lines({"几度分带": None}) + [f"分带={value}"]
    result = parse_boundary_txt(txt(lines + ["[地块坐标]", parcel_head(5)] + point_lines(SQUARE)))
    assert (result.zone_width, result.epsg) == (3, 4525)
    [warning] = warnings_with(result, "非标准键")
    assert warning.line == 11


def test_six_degree_zone_with_prefix():
    e, n = pyproj.Transformer.from_crs(4490, 4497, always_xy=True).transform(REF_LON, REF_LAT)
    coords = [(e, n), (e + 50, n), (e + 50, n - 50), (e, n - 50)]
    result = parse_boundary_txt(
        txt(
            header_lines({"几度分带": "6", "带号": "19"})
            + ["[地块坐标]", parcel_head(5, area="0.2500")]
            + point_lines(coords)
        )
    )
    assert (result.epsg, result.zone, result.zone_width, result.central_meridian) == (
        4497,
        19,
        6,
        111,
    )
    [warning] = warnings_with(result, "6 度分带")
    assert warning.line == 6
    lon, lat = pyproj.Transformer.from_crs(4497, 4490, always_xy=True).transform(
        *result.parcels[0].rings[0][0]
    )
    assert (lon, lat) == (pytest.approx(REF_LON, abs=1e-7), pytest.approx(REF_LAT, abs=1e-7))


def test_six_degree_zone_without_prefix_and_inferred_width():
    e, n = pyproj.Transformer.from_crs(4490, 4508, always_xy=True).transform(REF_LON, REF_LAT)
    coords = [(e, n), (e + 50, n), (e + 50, n - 50), (e, n - 50)]
    result = parse_boundary_txt(
        txt(
            header_lines({"几度分带": None, "带号": "19"})
            + ["[地块坐标]", parcel_head(5, area="0.2500")]
            + point_lines(coords)
        )
    )
    assert (result.epsg, result.zone_width, result.has_zone_prefix) == (4508, 6, False)
    assert warnings_with(result, "推定为 6 度带")


@pytest.mark.parametrize(
    ("spelling", "datum", "prefixed_code", "cm_code"),
    [
        ("80国家大地坐标系", XIAN1980, 2361, 2382),
        ("西安80", XIAN1980, 2361, 2382),
        ("1980西安坐标系", XIAN1980, 2361, 2382),
        ("54北京坐标系", BEIJING1954, 2413, 2434),
        ("北京54", BEIJING1954, 2413, 2434),
        ("1954北京坐标系", BEIJING1954, 2413, 2434),
    ],
)
def test_legacy_datums(spelling, datum, prefixed_code, cm_code):
    for prefix_off, code in ((False, prefixed_code), (True, cm_code)):
        data = txt(
            header_lines({"坐标系": spelling})
            + ["[地块坐标]", parcel_head(5)]
            + point_lines(SQUARE, prefix_off=prefix_off)
        )
        result = parse_boundary_txt(data)
        assert (result.datum, result.epsg) == (datum, code)
        [warning] = warnings_with(result, "旧坐标系")
        assert warning.line == 5


@pytest.mark.parametrize("spelling", ["CGCS2000", "国家2000", "CGCS 2000", "2000国家大地坐标系"])
def test_cgcs2000_spellings(spelling):
    result = parse_boundary_txt(square_file(坐标系=spelling))
    assert (result.datum, result.epsg) == (CGCS2000, 4525)
    warned = warnings_with(result, "非标准")
    if spelling == "2000国家大地坐标系":
        assert warned == []
    else:
        assert [w.line for w in warned] == [5]


@pytest.mark.parametrize("spelling", ["WGS84", "地方坐标系", ""])
def test_unknown_datum_gives_no_epsg(spelling):
    result = parse_boundary_txt(square_file(坐标系=spelling))
    assert result.epsg is None and result.datum is None
    assert result.zone == 37  # still known, the caller only has to declare the datum
    assert warnings_with(result, "坐标系")


def test_several_parcels():
    second = [(e + 500, n) for e, n in SQUARE]
    data = txt(
        header_lines()
        + ["[地块坐标]", parcel_head(5, no="NX-1")]
        + point_lines(SQUARE)
        + [parcel_head(5, no="NX-2")]
        + point_lines(second)
    )
    result = parse_boundary_txt(data)
    assert [p.parcel_no for p in result.parcels] == ["NX-1", "NX-2"]
    assert [p.header_line for p in result.parcels] == [13, 19]
    assert result.parcels[1].rings[0][0] == second[0]
    assert result.warnings == []  # several parcels per file is the normal case


def test_duplicate_parcel_numbers_warn():
    data = txt(
        header_lines()
        + ["[地块坐标]", parcel_head(5), *point_lines(SQUARE), parcel_head(5)]
        + point_lines([(e + 500, n) for e, n in SQUARE])
    )
    [warning] = warnings_with(parse_boundary_txt(data), "重复")
    assert warning.line == 19


@pytest.mark.parametrize(("count", "phrase"), [(4, "不含闭合点"), (6, "相差 1")])
def test_point_count_off_by_one(count, phrase):
    data = txt(header_lines() + ["[地块坐标]", parcel_head(count)] + point_lines(SQUARE))
    result = parse_boundary_txt(data)
    assert result.parcels[0].point_count == count
    [warning] = warnings_with(result, "界址点数")
    assert warning.line == HEAD_LINE and phrase in warning.message


def test_point_count_excluding_closing_points_of_several_rings():
    hole = [
        (REF_E + 25, REF_N - 25),
        (REF_E + 25, REF_N - 75),
        (REF_E + 75, REF_N - 75),
        (REF_E + 75, REF_N - 25),
    ]
    body = point_lines(SQUARE) + point_lines(hole, ring=2, start=5)
    result = parse_boundary_txt(txt(header_lines() + ["[地块坐标]", parcel_head(8)] + body))
    assert warnings_with(result, "不含闭合点")


@pytest.mark.parametrize(
    ("encoding", "expected"), [("utf-8", "utf-8"), ("utf-8-sig", "utf-8-sig"), ("utf-16", "utf-16")]
)
def test_unicode_encodings(encoding, expected):
    data = (
        "\r\n".join(header_lines() + ["[地块坐标]", parcel_head(5)] + point_lines(SQUARE))
    ).encode(encoding)
    result = parse_boundary_txt(data)
    assert result.encoding == expected
    assert result.epsg == 4525
    assert result.parcels[0].name == "测试地块"
    [warning] = warnings_with(result, "编码")
    assert warning.line is None and "GBK" in warning.message


def test_gb18030_only_characters():
    # 䶮 is outside GBK but inside GB18030.
    data = txt(
        header_lines()
        + ["[地块坐标]", parcel_head(5).replace("测试地块", "䶮地块")]
        + point_lines(SQUARE),
        encoding="gb18030",
    )
    result = parse_boundary_txt(data)
    assert result.encoding == "gb18030"
    assert result.parcels[0].name == "䶮地块"


def test_missing_header_section_entirely():
    data = txt(["[地块坐标]", parcel_head(5)] + point_lines(SQUARE))
    result = parse_boundary_txt(data)
    assert result.header == {}
    assert result.epsg is None  # the datum is unknown without a header
    assert (result.zone, result.has_zone_prefix) == (37, True)
    assert warnings_with(result, "缺少 [属性描述] 节")
    assert warnings_with(result, "缺少带号，取自东坐标前缀")
    assert result.parcels[0].polygon().area == pytest.approx(10_000)


def test_header_keys_without_section_heading():
    data = txt(header_lines(section=False) + ["[地块坐标]", parcel_head(5)] + point_lines(SQUARE))
    result = parse_boundary_txt(data)
    assert result.epsg == 4525
    [warning] = warnings_with(result, "节标题")
    assert warning.line == 1


def test_blank_lines_and_trailing_spaces():
    lines = header_lines() + ["", "[地块坐标]", parcel_head(5) + "  "] + point_lines(SQUARE)
    lines[3] += " \t"
    lines.insert(16, "   ")
    result = parse_boundary_txt(txt(lines + ["", ""]))
    assert result.epsg == 4525
    blank = warnings_with(result, "空行")
    assert [w.line for w in blank] == [12]
    assert "4 lines" in blank[0].message  # lines 12, 17 and the two at the end
    spaces = warnings_with(result, "多余空格")
    assert [w.line for w in spaces] == [4]
    assert result.header["数据产生日期"] == "2024-05-01"
    assert result.parcels[0].ring_lines == [[15, 16, 18, 19, 20]]


def test_spaces_around_fields():
    lines = header_lines() + ["[地块坐标]", "5, 1.0000 ,NX-1,测试地块, 面 ,,,,@"]
    lines += [line.replace(",", " , ") for line in point_lines(SQUARE)]
    result = parse_boundary_txt(txt(lines))
    assert result.parcels[0].kind == "面"
    assert result.parcels[0].rings[0][0] == (REF_E, REF_N)
    assert [w.line for w in warnings_with(result, "多余空格")] == [HEAD_LINE]


def test_fullwidth_commas():
    lines = header_lines() + ["[地块坐标]", parcel_head(5).replace(",", "，")]
    lines += [line.replace(",", "，") for line in point_lines(SQUARE)]
    result = parse_boundary_txt(txt(lines))
    assert result.parcels[0].parcel_no == "NX-1"
    assert result.parcels[0].rings[0][2] == SQUARE[2]
    [warning] = warnings_with(result, "全角逗号")
    assert warning.line == HEAD_LINE


def test_fullwidth_brackets_and_equals():
    lines = ["【属性描述】"] + [f"{k}＝{v}" for k, v in STANDARD_HEADER.items()]
    result = parse_boundary_txt(txt(lines + ["［地块坐标］", parcel_head(5)] + point_lines(SQUARE)))
    assert result.epsg == 4525
    assert [w.line for w in warnings_with(result, "全角符号")] == [1]


def test_lf_and_cr_line_endings():
    for eol in ("\n", "\r"):
        result = parse_boundary_txt(square_file().replace(b"\r\n", eol.encode()))
        assert result.epsg == 4525 and result.parcels[0].ring_lines[0][0] == FIRST_POINT
        assert result.warnings == []


def test_unclosed_ring_is_closed():
    data = txt(header_lines() + ["[地块坐标]", parcel_head(4)] + point_lines(SQUARE, close=False))
    result = parse_boundary_txt(data)
    ring = result.parcels[0].rings[0]
    assert ring[0] == ring[-1] and len(ring) == 5
    assert result.parcels[0].ring_lines[0] == [14, 15, 16, 17, 14]
    [warning] = warnings_with(result, "未闭合")
    assert warning.line == 17
    assert warnings_with(result, "界址点数") == []  # 4 lines written, count 4
    data = txt(header_lines() + ["[地块坐标]", parcel_head(5)] + point_lines(SQUARE, close=False))
    [warning] = warnings_with(parse_boundary_txt(data), "界址点数")
    assert "自动补上的闭合点" in warning.message and warning.line == HEAD_LINE


def test_closing_point_off_by_rounding():
    lines = point_lines(SQUARE)
    lines[-1] = f"J1,1,{REF_N + 0.002:.3f},{REF_E:.3f}"
    result = parse_boundary_txt(txt(header_lines() + ["[地块坐标]", parcel_head(5)] + lines))
    ring = result.parcels[0].rings[0]
    assert ring[-1] == ring[0]
    assert [w.line for w in warnings_with(result, "闭合点")] == [18]


def test_zone_taken_from_prefix_when_daihao_missing():
    result = parse_boundary_txt(square_file(带号=None))
    assert (result.epsg, result.zone) == (4525, 37)
    [warning] = warnings_with(result, "取自东坐标前缀")
    assert warning.line == 13  # header shifted up by one line


def test_no_zone_and_no_prefix_uses_default_central_meridian():
    data = txt(
        header_lines({"带号": None})
        + ["[地块坐标]", parcel_head(5)]
        + point_lines(SQUARE, prefix_off=True)
    )
    result = parse_boundary_txt(data)
    assert (result.epsg, result.central_meridian, result.zone) == (4546, 111, 37)
    assert warnings_with(result, "默认中央子午线 111")

    result = parse_boundary_txt(data, default_central_meridian=None)
    assert result.epsg is None and result.zone is None
    [warning] = warnings_with(result, "无法确定投影带")
    assert "declare the CRS" in warning.message

    result = parse_boundary_txt(data, default_central_meridian=114)
    assert result.epsg == 4547  # CGCS2000 3-degree CM 114E
    result = parse_boundary_txt(data, default_central_meridian=112)
    assert result.epsg is None
    assert warnings_with(result, "无法确定 EPSG")


def test_central_meridian_given_instead_of_zone():
    data = txt(
        header_lines({"带号": "111"})
        + ["[地块坐标]", parcel_head(5)]
        + point_lines(SQUARE, prefix_off=True)
    )
    result = parse_boundary_txt(data)
    assert (result.epsg, result.zone, result.central_meridian) == (4546, 37, 111)
    assert [w.line for w in warnings_with(result, "中央子午线经度")] == [9]

    lines = header_lines({"带号": None}) + ["中央子午线=111°"]
    result = parse_boundary_txt(
        txt(lines + ["[地块坐标]", parcel_head(5)] + point_lines(SQUARE, prefix_off=True))
    )
    assert result.epsg == 4546


def test_non_gauss_kruger_projection():
    result = parse_boundary_txt(square_file(投影类型="UTM"))
    assert result.epsg is None
    assert warnings_with(result, "不是高斯克吕格")


def test_polygon_with_hole():
    hole = [
        (REF_E + 25, REF_N - 25),
        (REF_E + 25, REF_N - 75),
        (REF_E + 75, REF_N - 75),
        (REF_E + 75, REF_N - 25),
    ]
    body = point_lines(SQUARE) + point_lines(hole, ring=2, start=5)
    result = parse_boundary_txt(
        txt(header_lines() + ["[地块坐标]", parcel_head(10, area="0.7500")] + body)
    )
    parcel = result.parcels[0]
    assert parcel.ring_numbers == [1, 2]
    geom = parcel.polygon()
    assert isinstance(geom, Polygon) and len(geom.interiors) == 1
    assert geom.area == pytest.approx(7_500)
    assert result.warnings == []


def test_multipolygon_and_hole_assigned_to_containing_part():
    far = [(e + 1000, n) for e, n in SQUARE]
    hole_in_first = [(REF_E + 25, REF_N - 25), (REF_E + 25, REF_N - 75), (REF_E + 75, REF_N - 75)]
    # Order: part 1, part 2, then a hole (ring 2) that lies in part 1.
    body = (
        point_lines(SQUARE)
        + point_lines(far, start=5)
        + point_lines(hole_in_first, ring=2, start=9)
    )
    result = parse_boundary_txt(
        txt(header_lines() + ["[地块坐标]", parcel_head(14, area="1.8750")] + body)
    )
    parcel = result.parcels[0]
    assert parcel.ring_numbers == [1, 1, 2]
    geom = parcel.polygon()
    assert isinstance(geom, MultiPolygon) and len(geom.geoms) == 2
    first, second = sorted(geom.geoms, key=lambda g: not g.contains(Point(REF_E + 10, REF_N - 10)))
    assert len(first.interiors) == 1 and len(second.interiors) == 0
    assert geom.area == pytest.approx(20_000 - 1_250)
    assert result.warnings == []


def test_disjoint_inner_ring_becomes_separate_part():
    far = [(e + 1000, n) for e, n in SQUARE]
    body = point_lines(SQUARE) + point_lines(far, ring=2, start=5)
    result = parse_boundary_txt(
        txt(header_lines() + ["[地块坐标]", parcel_head(10, area="2.0000")] + body)
    )
    geom = result.parcels[0].polygon()
    assert isinstance(geom, MultiPolygon) and geom.area == pytest.approx(20_000)
    [warning] = warnings_with(result, "独立部分")
    assert warning.line == 19


def test_line_and_point_kinds_are_parsed_and_marked():
    data = txt(
        header_lines()
        + ["[地块坐标]", parcel_head(3, kind="线", area="")]
        + point_lines(SQUARE[:3], close=False)
        + [parcel_head(2, kind="点", area="", no="NX-2")]
        + point_lines(SQUARE[:2], close=False)
    )
    result = parse_boundary_txt(data)
    line, points = result.parcels
    assert (line.kind, points.kind) == ("线", "点")
    assert isinstance(line.geometry(), LineString) and line.geometry().length == pytest.approx(200)
    assert len(points.geometry().geoms) == 2
    with pytest.raises(ValueError, match="not 面"):
        line.polygon()
    problems = errors_of(data, require_polygons=True)
    assert [p.line for p in problems] == [HEAD_LINE, 17]
    assert all("要求为“面”" in p.message and "polygons" in p.message for p in problems)


def test_stated_area_that_disagrees_is_exposed():
    result = parse_boundary_txt(
        txt(header_lines() + ["[地块坐标]", parcel_head(5, area="2.5000")] + point_lines(SQUARE))
    )
    parcel = result.parcels[0]
    assert parcel.area == 2.5
    assert parcel.computed_area_ha() == pytest.approx(1.0)
    [warning] = warnings_with(result, "不符")
    assert warning.line == HEAD_LINE


@pytest.mark.parametrize(("area", "phrase"), [("10000", "平方米"), ("15.0000", "亩")])
def test_area_in_other_units_is_flagged(area, phrase):
    result = parse_boundary_txt(
        txt(header_lines() + ["[地块坐标]", parcel_head(5, area=area)] + point_lines(SQUARE))
    )
    assert warnings_with(result, phrase)


def test_header_line_with_fewer_fields_and_trailing_comma_on_points():
    lines = header_lines() + ["[地块坐标]", "5,1.0000,NX-1,测试地块,面,@"]
    lines += [line + "," for line in point_lines(SQUARE)]
    result = parse_boundary_txt(txt(lines))
    assert result.parcels[0].use == ""
    assert warnings_with(result, "只有 5 个字段")
    assert [w.line for w in warnings_with(result, "空字段")] == [FIRST_POINT]


def test_dos_end_of_file_marker():
    assert parse_boundary_txt(square_file() + b"\x1a").epsg == 4525


def test_unknown_section_is_ignored_with_warning():
    data = square_file() + txt(["[备注]", "随便写点什么"])
    result = parse_boundary_txt(data)
    assert len(result.parcels) == 1
    assert [w.line for w in warnings_with(result, "未知的节")] == [19]


# --------------------------------------------------------------------------------------------
# errors
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data", [b"", b"   \r\n\r\n", b"\xef\xbb\xbf", b"\xef\xbb\xbf\r\n", "\r\n".encode("utf-16")]
)
def test_empty_file(data):
    [problem] = errors_of(data)
    assert problem.line is None and "文件为空" in problem.message and "empty" in problem.message


def test_no_coordinate_section():
    [problem] = errors_of(txt(header_lines()))
    assert "[地块坐标]" in problem.message and "no parcels" in problem.message
    [problem] = errors_of(txt([parcel_head(5)] + point_lines(SQUARE)))
    assert "[地块坐标]" in problem.message


def test_coordinate_section_without_parcels():
    [problem] = errors_of(txt(header_lines() + ["[地块坐标]"]))
    assert "没有地块" in problem.message


@pytest.mark.parametrize("bad", ["3659716.06a", "abc", "", "3,659,716", "1_000_000.0"])
def test_non_numeric_coordinate(bad):
    lines = point_lines(SQUARE)
    lines[2] = f"J3,1,{bad},{REF_E + 100:.3f}"
    if bad == "3,659,716":
        only_error(txt(header_lines() + ["[地块坐标]", parcel_head(5)] + lines), "字段数", 16)
        return
    problem = only_error(
        txt(header_lines() + ["[地块坐标]", parcel_head(5)] + lines), "不是数字", 16
    )
    assert "not a number" in problem.message and "X" in problem.message


@pytest.mark.parametrize("bad", ["nan", "NaN", "inf", "-inf", "Infinity", "1e999"])
def test_nan_and_inf(bad):
    lines = point_lines(SQUARE)
    lines[1] = f"J2,1,{REF_N:.3f},{bad}"
    problem = only_error(txt(header_lines() + ["[地块坐标]", parcel_head(5)] + lines), "NaN", 15)
    assert "Y" in problem.message
    only_error(
        txt(header_lines() + ["[地块坐标]", parcel_head(5, area=bad)] + point_lines(SQUARE)),
        "面积",
        HEAD_LINE,
    )


@pytest.mark.parametrize("line", ["J2,1,3659716.061", "J2,1,3659716.061,37578548.671,12.5", "J2"])
def test_wrong_field_count(line):
    lines = point_lines(SQUARE)
    lines[1] = line
    problem = only_error(txt(header_lines() + ["[地块坐标]", parcel_head(5)] + lines), "字段数", 15)
    assert "4" in problem.message


def test_parcel_header_without_at_sign():
    only_error(
        txt(header_lines() + ["[地块坐标]", "5,1.0000,NX-1,测试地块,面,,,"] + point_lines(SQUARE)),
        "缺少结尾的 @",
        HEAD_LINE,
    )


def test_point_before_parcel_header():
    problems = errors_of(txt(header_lines() + ["[地块坐标]"] + point_lines(SQUARE)))
    assert [p.line for p in problems if "地块头行之前" in p.message] == [13, 14, 15, 16, 17]


def test_ring_with_fewer_than_three_distinct_points():
    lines = point_lines(SQUARE[:2])  # J1, J2, J1
    only_error(txt(header_lines() + ["[地块坐标]", parcel_head(3)] + lines), "不同的点", 14)
    lines = point_lines([SQUARE[0], SQUARE[1], SQUARE[1]])
    only_error(txt(header_lines() + ["[地块坐标]", parcel_head(4)] + lines), "不同的点", 14)


@pytest.mark.parametrize("ring", ["a", "1.5", "0", "-1", ""])
def test_ring_number_not_integer(ring):
    lines = point_lines(SQUARE)
    lines[3] = lines[3].replace("J4,1,", f"J4,{ring},")
    problem = only_error(txt(header_lines() + ["[地块坐标]", parcel_head(5)] + lines), "圈号", 17)
    assert "ring number" in problem.message


def test_zone_disagrees_with_prefix():
    problem = only_error(square_file(带号="38"), "不一致", 9)
    assert "38" in problem.message and "37" in problem.message


def test_zone_prefix_changes_between_lines():
    lines = point_lines(SQUARE)
    lines[2] = lines[2].replace(",37578", ",38578")
    only_error(txt(header_lines() + ["[地块坐标]", parcel_head(5)] + lines), "带号前缀 38", 16)


def test_prefixed_and_unprefixed_mixed():
    lines = point_lines(SQUARE)
    lines[2] = point_lines(SQUARE, prefix_off=True)[2]
    only_error(
        txt(header_lines() + ["[地块坐标]", parcel_head(5)] + lines), "带号前缀与第 14 行", 16
    )


def test_zone_not_of_declared_width():
    only_error(square_file(几度分带="6"), "不是 6 度带的带号", FIRST_POINT)
    data = txt(
        header_lines({"几度分带": "6"})
        + ["[地块坐标]", parcel_head(5)]
        + point_lines(SQUARE, prefix_off=True)
    )
    only_error(data, "不是 6 度带的带号", 9)


@pytest.mark.parametrize(
    ("key", "value", "line"),
    [("几度分带", "1.5度带", 6), ("带号", "三十七", 9), ("计量单位", "公里", 8)],
)
def test_bad_header_values(key, value, line):
    only_error(square_file(**{key: value}), value, line)


def test_mixed_swapped_and_non_swapped():
    lines = point_lines(SQUARE)
    lines[2] = point_lines(SQUARE, swap=True)[2]
    problem = only_error(
        txt(header_lines() + ["[地块坐标]", parcel_head(5)] + lines), "X/Y 顺序与第 14 行不一致", 16
    )
    assert "mixed swapped" in problem.message


@pytest.mark.parametrize(
    ("x", "y"),
    [("12345.678", "56789.012"), ("3659716.061", "3578448.671"), ("-3659716.061", "37578448.671")],
)
def test_coordinates_of_no_known_layout(x, y):
    lines = point_lines(SQUARE)
    lines[0] = f"J1,1,{x},{y}"
    only_error(txt(header_lines() + ["[地块坐标]", parcel_head(5)] + lines), "位数不符", 14)


def test_binary_content():
    problem = only_error(b"PK\x03\x04\x14\x00\x00\x00\x08\x00", "二进制", 1)
    assert "binary" in problem.message
    only_error(square_file() + b"\x89PNG\r\n\x1a\n\x00\x00", "二进制", 21)


def test_undecodable_content():
    data = square_file().replace(b"NX-1", b"NX\xff\xfe\xfd")
    problem = only_error(data, "无法按 GBK", HEAD_LINE)
    assert "cannot be decoded" in problem.message
    only_error(square_file() + b"\x07\x08 bell", "控制字符", 19)
    only_error(square_file().replace(b"\r\n", b"\r") + b"\x07", "控制字符", 19)


def test_bad_parcel_header_fields():
    only_error(
        txt(header_lines() + ["[地块坐标]", parcel_head("五")] + point_lines(SQUARE)),
        "不是整数",
        HEAD_LINE,
    )
    only_error(
        txt(header_lines() + ["[地块坐标]", parcel_head(5, kind="多边形")] + point_lines(SQUARE)),
        "点/线/面",
        HEAD_LINE,
    )
    only_error(
        txt(header_lines() + ["[地块坐标]", parcel_head(5, area="约1公顷")] + point_lines(SQUARE)),
        "不是数字",
        HEAD_LINE,
    )


def test_point_count_far_off_means_truncated():
    only_error(
        txt(header_lines() + ["[地块坐标]", parcel_head(12)] + point_lines(SQUARE)),
        "可能不完整",
        HEAD_LINE,
    )


def test_parcel_without_points():
    data = txt(
        header_lines()
        + ["[地块坐标]", parcel_head(5), parcel_head(5, no="NX-2")]
        + point_lines(SQUARE)
    )
    only_error(data, "没有界址点", HEAD_LINE)


def test_hole_crossing_outer_ring():
    crossing = [(REF_E + 50, REF_N - 50), (REF_E + 150, REF_N - 50), (REF_E + 150, REF_N - 150)]
    body = point_lines(SQUARE) + point_lines(crossing, ring=2, start=5)
    only_error(txt(header_lines() + ["[地块坐标]", parcel_head(9)] + body), "交叉", 19)


def test_same_name_far_from_start():
    lines = point_lines(SQUARE)
    lines[-1] = f"J1,1,{REF_N - 30:.3f},{REF_E - 40:.3f}"
    only_error(txt(header_lines() + ["[地块坐标]", parcel_head(5)] + lines), "同名", 18)


def test_junk_in_header_section():
    lines = header_lines()
    lines.insert(3, "这是一行说明")
    only_error(txt(lines + ["[地块坐标]", parcel_head(5)] + point_lines(SQUARE)), "键=值", 4)


def test_every_problem_is_reported_in_line_order():
    lines = point_lines(SQUARE)
    lines[1] = "J2,1,abc,37578548.671"
    lines[3] = "J4,x,3659616.061,37578448.671"
    problems = errors_of(txt(header_lines() + ["[地块坐标]", parcel_head(5)] + lines))
    assert [p.line for p in problems] == [15, 17]
    assert "不是数字" in problems[0].message and "圈号" in problems[1].message
    assert str(BoundaryTxtError(problems)).count("\n") == 1


def test_rejects_non_bytes():
    with pytest.raises(TypeError):
        parse_boundary_txt("[地块坐标]")  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# writer
# --------------------------------------------------------------------------------------------


def _shoelace(ring: list[tuple[float, float]]) -> float:
    return sum(x1 * y2 - x2 * y1 for (x1, y1), (x2, y2) in itertools.pairwise(ring)) / 2


def test_writer_layout():
    # Counter-clockwise input starting in the south-east: written clockwise from the north-west.
    square = Polygon(
        [(REF_E + 100, REF_N - 100), (REF_E + 100, REF_N), (REF_E, REF_N), (REF_E, REF_N - 100)]
    )
    assert square.exterior.is_ccw
    data = write_boundary_txt(
        [TxtParcelOut("NX-1", "测试地块", square, use="0901", land_class="09")],
        epsg=4525,
        producer="内乡县某测绘公司",
        date="2024-05-01",
    )
    expected_lines = [
        "[属性描述]",
        "格式版本号=1.0",
        "数据产生单位=内乡县某测绘公司",
        "数据产生日期=2024-05-01",
        "坐标系=2000国家大地坐标系",
        "几度分带=3",
        "投影类型=高斯克吕格",
        "计量单位=米",
        "带号=37",
        "精度=0.001",
        "转换参数=,,,,,,",
        "[地块坐标]",
        "5,1.0000,NX-1,测试地块,面,,0901,09,@",
        "J1,1,3659716.061,37578448.671",
        "J2,1,3659716.061,37578548.671",
        "J3,1,3659616.061,37578548.671",
        "J4,1,3659616.061,37578448.671",
        "J1,1,3659716.061,37578448.671",
    ]
    expected = "\r\n".join(expected_lines) + "\r\n"
    assert data == expected.encode("gbk")
    # Stable: the same input writes the same bytes.
    assert data == write_boundary_txt(
        [TxtParcelOut("NX-1", "测试地块", square, use="0901", land_class="09")],
        epsg=4525,
        producer="内乡县某测绘公司",
        date="2024-05-01",
    )


def test_writer_reads_back_the_sample_clockwise():
    sample = parse_boundary_txt(sample_bytes())
    parcel = sample.parcels[0]
    data = write_boundary_txt(
        [TxtParcelOut(parcel.parcel_no, parcel.name, parcel.polygon(), area_ha=parcel.area)],
        epsg=sample.epsg,
        date="2024-05-01",
    )
    again = parse_boundary_txt(data)
    assert again.warnings == []
    ring = again.parcels[0].rings[0]
    assert _shoelace(ring) < 0  # clockwise in (easting, northing)
    assert again.parcels[0].point_names == [["J1", "J2", "J3", "J4", "J5", "J1"]]
    # Starts at the north-westernmost vertex (J5 of the original).
    assert ring[0] == (37579393.830, 3658337.195)
    assert same_geometry(again.parcels[0].polygon(), parcel.polygon())
    assert b"\r\n6,8.5476,NX-2024-001," in data


def _test_geometries(easting0: float, northing0: float) -> dict[str, Polygon | MultiPolygon]:
    def box(e, n, w, h):
        return [(e, n), (e + w, n), (e + w, n - h), (e, n - h)]

    e, n = easting0 + 0.1234, northing0 + 0.5678  # decimals that need rounding
    outer = box(e, n, 230.4567, 180.1111)
    hole_a = box(e + 20.2, n - 20.3, 40.4, 30.5)
    hole_b = box(e + 120.7, n - 90.1, 50.3, 40.9)
    with_holes = Polygon(outer, [hole_a, hole_b])
    tri = Polygon([(e + 400, n), (e + 520.25, n - 10.5), (e + 450.5, n - 160.75)])
    other = Polygon(box(e, n - 400, 100, 100), [box(e + 10, n - 410, 20, 20)])
    return {
        "square": Polygon(box(e, n, 100, 100)),
        "holes": with_holes,
        "multi": MultiPolygon([with_holes, tri, other]),
    }


@pytest.mark.parametrize("epsg", known_gauss_kruger_epsg())
def test_round_trip_every_known_crs(epsg):
    params = gauss_kruger_params(epsg)
    easting0 = 578_448.671 + (params.zone * 1_000_000 if params.prefixed else 0)
    geoms = _test_geometries(easting0, 3_659_716.061)
    outs = [TxtParcelOut(f"P-{name}", name, g) for name, g in geoms.items()]
    data = write_boundary_txt(outs, epsg=epsg, date="2024-05-01")
    result = parse_boundary_txt(data)
    assert result.epsg == epsg
    assert result.encoding == "gbk"
    assert [p.parcel_no for p in result.parcels] == [o.parcel_no for o in outs]
    for out, parcel in zip(outs, result.parcels, strict=True):
        assert same_geometry(parcel.polygon(), out.geometry), parcel.parcel_no
        assert parcel.area == round(out.geometry.area / 10_000, 4)
        assert parcel.point_count == sum(len(r) for r in parcel.rings)
    expected = {"已按位数纠正", "6 度分带", "旧坐标系"}
    for w in result.warnings:
        assert any(t in w.message for t in expected), w


def test_round_trip_ring_numbers_orientation_and_names():
    geoms = _test_geometries(37_578_448.671, 3_659_716.061)
    data = write_boundary_txt([TxtParcelOut("M", "多部分", geoms["multi"])], epsg=4525)
    parcel = parse_boundary_txt(data).parcels[0]
    assert parcel.ring_numbers == [1, 2, 3, 1, 1, 2]
    for ring, number in zip(parcel.rings, parcel.ring_numbers, strict=True):
        assert LinearRing(ring).is_ccw == (number != 1)
    names = [n for ring in parcel.point_names for n in ring[:-1]]
    assert names == [f"J{i}" for i in range(1, len(names) + 1)]
    assert all(ring[0] == ring[-1] for ring in parcel.point_names)
    assert parcel.point_count == sum(len(r) for r in parcel.rings)


def test_writer_area_override_and_options():
    square = Polygon(SQUARE)
    data = write_boundary_txt(
        [TxtParcelOut("A", "甲", square, area_ha=1.23456)], epsg=4525, encoding="utf-8"
    )
    result = parse_boundary_txt(data)
    assert result.encoding == "utf-8"
    assert result.parcels[0].area == 1.2346
    assert result.header["数据产生日期"]  # today by default


@pytest.mark.parametrize(
    ("epsg", "name"),
    [(2361, "80国家大地坐标系"), (2434, "54北京坐标系"), (4508, "2000国家大地坐标系")],
)
def test_writer_header_for_other_crs(epsg, name):
    params = gauss_kruger_params(epsg)
    offset = 0 if params.prefixed else 37_000_000
    square = Polygon([(e - offset, n) for e, n in SQUARE])
    data = write_boundary_txt([TxtParcelOut("A", "甲", square)], epsg=epsg).decode("gbk")
    assert f"坐标系={name}\r\n" in data
    assert f"几度分带={params.zone_width}\r\n" in data
    assert f"带号={params.zone}\r\n" in data


@pytest.mark.parametrize("epsg", [4490, 4326, 3857, 32649])
def test_writer_rejects_unknown_crs(epsg):
    with pytest.raises(ValueError, match="Gauss-Kruger"):
        write_boundary_txt([TxtParcelOut("A", "甲", Polygon(SQUARE))], epsg=epsg)


def test_writer_rejects_geometry_in_another_crs():
    for geom, epsg in [
        (Polygon(SQUARE), 4546),  # prefixed coordinates for a CM CRS
        (Polygon(SQUARE), 4526),  # zone 37 coordinates for zone 38
        (Polygon([(111.84, 33.06), (111.85, 33.06), (111.85, 33.05)]), 4525),  # lon/lat
    ]:
        with pytest.raises(ValueError, match="is the geometry in the CRS"):
            write_boundary_txt([TxtParcelOut("A", "甲", geom)], epsg=epsg)


def test_writer_rejects_bad_input():
    square = Polygon(SQUARE)
    with pytest.raises(TypeError):
        write_boundary_txt([TxtParcelOut("A", "甲", LineString(SQUARE))], epsg=4525)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="empty"):
        write_boundary_txt([TxtParcelOut("A", "甲", Polygon())], epsg=4525)
    with pytest.raises(ValueError, match="commas"):
        write_boundary_txt([TxtParcelOut("A,B", "甲", square)], epsg=4525)
    with pytest.raises(ValueError, match="commas"):
        write_boundary_txt([TxtParcelOut("A", "甲\r\n乙", square)], epsg=4525)
    with pytest.raises(ValueError, match="cannot be written in gbk"):
        write_boundary_txt([TxtParcelOut("A", "地块😀", square)], epsg=4525)
    with pytest.raises(ValueError, match="no parcels"):
        write_boundary_txt([], epsg=4525)
    with pytest.raises(ValueError, match="not finite"):
        write_boundary_txt([TxtParcelOut("A", "甲", square, area_ha=math.nan)], epsg=4525)


def test_writer_drops_z():
    square_z = Polygon([(e, n, 100.0) for e, n in SQUARE])
    data = write_boundary_txt([TxtParcelOut("A", "甲", square_z)], epsg=4525)
    assert same_geometry(parse_boundary_txt(data).parcels[0].polygon(), Polygon(SQUARE))
