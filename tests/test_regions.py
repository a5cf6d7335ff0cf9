"""The region table (corpus/taxonomy/regions.yaml): every region with its 行政区划代码, Inner
Mongolia's 12 盟市 with all their 旗县区, and matching that nests: a campaign or an item for
巴彦淖尔市 reaches 临河区, one for 内蒙古自治区 everyone in it, one for 包头市 not 临河区."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from corpus.taxonomy import Region, Taxonomy, TaxonomyError, load_taxonomy
from recommender.campaigns import region_applies

INNER_MONGOLIA = "内蒙古自治区"
# 盟市 -> (code, number of county-level units), as in 民政部's 2023 list.
CITIES = {"呼和浩特市": ("150100", 9), "包头市": ("150200", 9), "乌海市": ("150300", 3),
          "赤峰市": ("150400", 12), "通辽市": ("150500", 8), "鄂尔多斯市": ("150600", 9),
          "呼伦贝尔市": ("150700", 14), "巴彦淖尔市": ("150800", 7), "乌兰察布市": ("150900", 11),
          "兴安盟": ("152200", 6), "锡林郭勒盟": ("152500", 12), "阿拉善盟": ("152900", 3)}
BAYANNUR = {"临河区": "150802", "五原县": "150821", "磴口县": "150822", "乌拉特前旗": "150823",
            "乌拉特中旗": "150824", "乌拉特后旗": "150825", "杭锦后旗": "150826"}
HOHHOT = {"新城区": "150102", "回民区": "150103", "玉泉区": "150104", "赛罕区": "150105", "土默特左旗": "150121",
          "托克托县": "150122", "和林格尔县": "150123", "清水河县": "150124", "武川县": "150125"}


def all_regions(taxonomy: Taxonomy) -> list[Region]:
    return list(dict.fromkeys(taxonomy.regions.values()))


def children(taxonomy: Taxonomy, parent: str) -> dict[str, str | None]:
    return {r.name: r.code for r in all_regions(taxonomy) if r.parent == parent}


# ------------------------------------------------------------------------- the table


def test_every_region_has_a_valid_code_inside_its_parent(taxonomy):
    regions = all_regions(taxonomy)
    codes = [r.code for r in regions]
    assert len(set(codes)) == len(codes)
    for r in regions:
        assert r.code is not None and re.fullmatch(r"[1-8]\d{5}", r.code), r
        if r.parent is None:
            assert r.code.endswith("0000"), r
        else:
            parent = taxonomy.region(r.parent)
            assert parent is not None and parent.code is not None and parent.name == r.parent
            inside = parent.code[:2] if parent.code.endswith("0000") else parent.code[:4]
            assert r.code != parent.code and r.code.startswith(inside), r


def test_the_levels(taxonomy):
    regions = all_regions(taxonomy)
    provinces = [r for r in regions if r.parent is None]
    assert len(provinces) == 34 and taxonomy.region("110000").name == "北京市"
    assert children(taxonomy, INNER_MONGOLIA) == {name: code for name, (code, _) in CITIES.items()}
    counties = [r.name for r in regions if r.parent in CITIES]
    kinds = {kind: sum(name.endswith(kind) for name in counties) for kind in ("区", "市", "县", "旗")}
    assert kinds == {"区": 23, "市": 11, "县": 17, "旗": 52}  # Inner Mongolia's 103 county-level units


def test_bayannur_in_full(taxonomy):
    assert children(taxonomy, "巴彦淖尔市") == BAYANNUR
    assert taxonomy.region("巴彦淖尔市").code == "150800"


@pytest.mark.parametrize(("city", "code", "units"), [(c, code, n) for c, (code, n) in CITIES.items()])
def test_every_city_and_league_has_its_county_units(taxonomy, city, code, units):
    found = children(taxonomy, city)
    assert len(found) == units, found
    assert all(c is not None and c.startswith(code[:4]) for c in found.values())


def test_some_units_by_code(taxonomy):
    assert children(taxonomy, "呼和浩特市") == HOHHOT
    assert children(taxonomy, "鄂尔多斯市")["康巴什区"] == "150603"
    assert children(taxonomy, "包头市")["达尔罕茂明安联合旗"] == "150223"
    assert children(taxonomy, "呼伦贝尔市")["莫力达瓦达斡尔族自治旗"] == "150722"
    assert children(taxonomy, "阿拉善盟") == {"阿拉善左旗": "152921", "阿拉善右旗": "152922", "额济纳旗": "152923"}


@pytest.mark.parametrize(("name", "official"), [
    ("巴彦淖尔", "巴彦淖尔市"), ("内蒙古", INNER_MONGOLIA), ("临河", "临河区"), ("150802", "临河区"),
    ("150000", INNER_MONGOLIA), (" 巴彦淖尔 市 ", "巴彦淖尔市"), ("乌拉特前旗", "乌拉特前旗"),
    ("海南", "海南省"),  # 乌海市's 海南区 does not take 海南省's short form
    ("海南区", "海南区"), ("广西", "广西壮族自治区"), ("白云鄂博", "白云鄂博矿区"),
])
def test_names_short_forms_and_codes(taxonomy, name, official):
    assert taxonomy.region(name).name == official


@pytest.mark.parametrize("name", ["新城", "青山", "回民", "150271", "1508", "巴彦淖尔市临河区"])
def test_no_region_for_ambiguous_short_forms_zones_and_addresses(taxonomy, name):
    """新城区 and 青山区 repeat across China; 回民 names a people; 150271 is a development zone."""
    assert taxonomy.region(name) is None


def test_the_shared_corpus_regions_are_known(taxonomy):
    """The region values items of ../shared/corpus carry (内蒙古, 包头, 巴彦淖尔, 山东)."""
    for name in ("内蒙古", "内蒙古自治区", "包头", "巴彦淖尔", "巴彦淖尔市", "山东"):
        assert taxonomy.region(name) is not None, name
    assert taxonomy.region("临河区新华街") is None  # an address is not a region


# ------------------------------------------------------------------------- nesting


@pytest.mark.parametrize(("campaign_region", "region", "reaches"), [
    ("巴彦淖尔市", "临河区", True),
    ("150800", "临河区", True),
    ("巴彦淖尔市", "150802", True),
    ("内蒙古", "杭锦后旗", True),
    ("内蒙古自治区", "额济纳旗", True),
    ("内蒙古自治区", "乌拉特中旗", True),
    ("呼和浩特市", "新城区", True),
    ("包头市", "临河区", False),
    ("巴彦淖尔市", "集宁区", False),
    ("临河区", "巴彦淖尔市", False),
    ("巴彦淖尔市", INNER_MONGOLIA, False),
    ("海南省", "海南区", False),  # 乌海市's 海南区 is not in 海南省
    ("内蒙古", "海南区", True),
    ("山东省", "临河区", False),
    ("巴彦淖尔市", "巴彦淖尔市临河区", True),  # names not listed match by text
    (None, "临河区", True),
    ("巴彦淖尔市", None, True),
])
def test_campaigns_nest(taxonomy, campaign_region, region, reaches):
    assert region_applies(taxonomy, campaign_region, region) is reaches


@pytest.mark.parametrize(("item_region", "person_region", "reaches"), [
    ("内蒙古自治区", "临河区", True),
    ("内蒙古", "临河区", True),
    ("巴彦淖尔市", "临河区", True),
    ("巴彦淖尔", "乌拉特后旗", True),
    ("150000", "150802", True),
    ("巴彦淖尔", "巴彦淖尔市", True),
    ("包头市", "临河区", False),
    ("包头", "巴彦淖尔", False),
    ("山东", "临河区", False),
    ("巴彦淖尔", INNER_MONGOLIA, False),  # a person known only as 内蒙古 may live anywhere in it
    ("临河区", "五原县", False),
    (None, "临河区", True),  # an item for everywhere
    ("", "临河区", True),
    ("包头市", None, True),  # a request without a region sees everything
    ("内蒙古", "内蒙古自治区某地", True),  # not listed: by text
])
def test_items_nest(taxonomy, item_region, person_region, reaches):
    assert taxonomy.item_reaches(item_region, person_region) is reaches


def test_region_within(taxonomy):
    assert taxonomy.region_within("临河区", "临河区")
    assert taxonomy.region_within("临河", "内蒙古")
    assert not taxonomy.region_within("内蒙古", "临河")
    assert not taxonomy.region_within("", "内蒙古")


# ------------------------------------------------------------------------- the loader refuses


def with_regions(tmp_path: Path, taxonomy: Taxonomy, old: str, new: str) -> Path:
    """A copy of the taxonomy whose regions.yaml has ``old`` replaced by ``new``."""
    d = tmp_path / "tax"
    shutil.copytree(taxonomy.source_dir, d, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    text = (d / "regions.yaml").read_text(encoding="utf-8")
    assert text.count(old) == 1, old
    (d / "regions.yaml").write_text(text.replace(old, new), encoding="utf-8")
    return d


@pytest.mark.parametrize(("old", "new", "message"), [
    ("name: 临河区, code: 150802", "name: 临河区, code: 15082", r"\(临河区\): code '15082' must be a 6-digit"),
    ("name: 临河区, code: 150802", "name: 临河区, code: 15O802", r"\(临河区\): code '15O802' must be a 6-digit"),
    ("name: 临河区, code: 150802", "name: 临河区", r"\(临河区\): missing 'code'"),
    ("name: 五原县, code: 150821", "name: 五原县, code: 150802", r"\(五原县\): code '150802'.*not 临河区's"),
    ("name: 临河区, code: 150802", "name: 临河区, code: 150902", r"\(临河区\): code 150902 does not lie in 巴彦淖尔市"),
    ("name: 临河区, code: 150802", "name: 临河区, code: 150800", r"\(临河区\): code '150800'.*not 巴彦淖尔市's"),
    ("name: 包头市, code: 150200", "name: 包头市, code: 140200", r"\(包头市\): code 140200 does not lie in 内蒙古自治区"),
    ("name: 北京市, code: 110000", "name: 北京市, code: 110100", r"\(北京市\): code 110100 is not a province's"),
    ("parent: 巴彦淖尔市}\n- {name: 五原县", "parent: 巴颜淖尔市}\n- {name: 五原县",
     r"\(临河区\): parent '巴颜淖尔市' must be the official name of a region listed before it"),
    ("name: 临河区, code: 150802, parent: 巴彦淖尔市", "name: 临河区, code: 150802, parent: 巴彦淖尔",
     r"\(临河区\): parent '巴彦淖尔' must be the official name"),
    ("name: 五原县, code: 150821", "name: 临河区, code: 150821", r"\(临河区\): '临河区' is already 临河区's"),
    (", short: 海南区}", "}", r"\(海南区\): '海南' is already 海南省's name or short form \(qualify"),
])
def test_the_loader_refuses_naming_the_entry(tmp_path, taxonomy, old, new, message):
    d = with_regions(tmp_path, taxonomy, old, new)
    with pytest.raises(TaxonomyError, match=r"regions\.yaml: entry \d+ " + message):
        load_taxonomy(d)
