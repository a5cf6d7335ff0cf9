"""The taxonomy data: every contract id present, valid references, campaigns by date."""

from __future__ import annotations

import datetime as dt
import shutil

import pytest

from corpus.taxonomy import TaxonomyError, load_taxonomy
from recommender.campaigns import campaigns_on

# The ids of docs/taxonomy.md: a contract (may grow, never shrink or rename).
TOPICS = """xi_rule_of_law constitution civil_code marriage_family national_security border_affairs
cyber_data anti_fraud ethnic_unity party_regulations administration_law ip_innovation
business_environment consumer finance agriculture_rural ecology food_drug_safety
public_health_emergency work_safety labour traffic organized_crime drug_control criminal_law
domestic_violence minors women elderly disability education grassroots_governance
dispute_resolution""".split()
GROUPS = """officials law_enforcement party_members youth herders village_cadres migrant_workers
enterprises women elderly disabled media teachers border_residents public""".split()


def test_contract_ids_present(taxonomy):
    assert set(TOPICS) <= set(taxonomy.topic_ids)
    assert set(GROUPS) <= set(taxonomy.group_ids)
    assert all(taxonomy.topics[t].name and taxonomy.topics[t].keywords for t in TOPICS)


def test_groups_follow_the_plan(taxonomy):
    g = taxonomy.groups
    assert g["herders"].topics["agriculture_rural"] >= 0.8
    assert g["migrant_workers"].topics["labour"] >= 0.8
    assert g["youth"].topics["minors"] >= 0.8
    assert g["officials"].topics["party_regulations"] >= 0.8
    for group in g.values():
        assert "ethnic_unity" in group.topics, group.id  # "ethnic unity everywhere"


def test_key_laws_map_to_topics(taxonomy):
    assert "domestic_violence" in taxonomy.topics_for_law("反家庭暴力法")
    assert "drug_control" in taxonomy.topics_for_law("禁毒法")
    assert "agriculture_rural" in taxonomy.topics_for_law("农村土地承包法")
    assert "marriage_family" in taxonomy.topics_for_law("民法典", "婚姻家庭编")
    assert "marriage_family" not in taxonomy.topics_for_law("民法典", "合同编")


@pytest.mark.parametrize(
    ("day", "topic"),
    [(dt.date(2026, 12, 4), "constitution"), (dt.date(2027, 4, 15), "national_security"),
     (dt.date(2026, 5, 20), "civil_code"), (dt.date(2026, 6, 26), "drug_control")],
)
def test_campaign_calendar(taxonomy, day, topic):
    active = campaigns_on(taxonomy, [], day, taxonomy.group_ids, None)
    assert any(topic in c.topics for c in active)


def test_no_campaign_on_an_ordinary_day(taxonomy):
    ordinary = campaigns_on(taxonomy, [], dt.date(2026, 8, 1), taxonomy.group_ids, None)
    assert not any("constitution" in c.topics for c in ordinary)


def test_a_bad_file_is_a_clear_error(tmp_path, taxonomy):
    d = tmp_path / "tax"
    shutil.copytree(taxonomy.source_dir, d, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    groups = (d / "groups.yaml").read_text(encoding="utf-8")
    (d / "groups.yaml").write_text(groups.replace("labour: ", "labor_typo: ", 1), encoding="utf-8")
    with pytest.raises(TaxonomyError, match=r"groups\.yaml.*unknown topic 'labor_typo'"):
        load_taxonomy(d)
    (d / "groups.yaml").write_text("groups: [unclosed", encoding="utf-8")
    with pytest.raises(TaxonomyError, match="invalid YAML"):
        load_taxonomy(d)
    (d / "groups.yaml").unlink()
    with pytest.raises(TaxonomyError, match="missing"):
        load_taxonomy(d)
