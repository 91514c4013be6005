"""Dataset card (HF YAML header, per-usage configs that `datasets` really loads), 语料来源清单, 数据产品说明书."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from fincorpus.catalog.cards import CardInputs, check_usage_filters, size_category, write_cards
from fincorpus.catalog.stats import collect
from fincorpus.sources.registry import load_sources
from tests.snapshot_folder import snapshot_rows, write_snapshot

REPO = Path(__file__).resolve().parent.parent
DEMO_SOURCES = REPO / "fincorpus" / "demo" / "sources.yaml"


def _cards(folder: Path, sources: object | None = None) -> tuple[dict, str]:
    st = collect(folder)
    files = write_cards(folder, CardInputs("v1", 99, st, {"usage": None}, sources, "测试运营方", "sm3:abc"))
    text = files.card.read_text(encoding="utf-8")
    header = yaml.safe_load(text.split("---\n")[1])
    return header, text


def test_card_header_has_the_hub_fields(tmp_path: Path) -> None:
    header, text = _cards(write_snapshot(tmp_path / "s"))
    assert header["license"] == "other" and header["license_name"]
    assert header["language"] == ["zh"] and header["task_categories"] == ["text-generation"]
    assert header["size_categories"] == ["n<1K"]
    names = [c["config_name"] for c in header["configs"]]
    assert names == ["default", "research", "train", "commercial", "redistribute"]
    assert "## Licence classes" in text and "sm3:abc" in text
    assert (
        size_category(999) == "n<1K"
        and size_category(1000) == "1K<n<10K"
        and size_category(2_000_000) == "1M<n<10M"
    )


def test_usage_configs_load_exactly_the_allowed_rows(tmp_path: Path) -> None:
    """`datasets` applies each config's filters; the rows must be those whose usage lists the use."""
    datasets = pytest.importorskip("datasets")
    rows = snapshot_rows()
    rows[1]["tdm_reserved"] = None  # a null flag is not an opt-out (derive_usage treats it as False)
    folder = write_snapshot(tmp_path / "s", rows)
    _cards(folder)
    for use in ("research", "train", "commercial", "redistribute"):
        ds = datasets.load_dataset(str(folder), use, split="train", cache_dir=str(tmp_path / "cache"))
        want = sorted(r["doc_id"] for r in rows if use in r["usage"])
        assert sorted(ds["doc_id"]) == want, use
    everything = datasets.load_dataset(str(folder), split="train", cache_dir=str(tmp_path / "cache"))
    assert everything.num_rows == len(rows)


def test_a_filter_that_disagrees_with_usage_is_left_out(tmp_path: Path) -> None:
    rows = snapshot_rows()
    opted = next(r for r in rows if r["tdm_reserved"] and r["licence_class"] == "cn-art5-official")
    opted["usage"] = [*opted["usage"], "train"]  # usage no longer follows the derivation rule
    folder = write_snapshot(tmp_path / "s", rows)
    assert check_usage_filters(folder)["train"] is not None
    header, text = _cards(folder)
    assert "train" not in [c["config_name"] for c in header["configs"]]
    assert "Configs left out" in text and "`train`" in text


def test_sources_inventory_counts_and_declarations(tmp_path: Path) -> None:
    folder = write_snapshot(tmp_path / "s")
    _cards(folder)
    inv = json.loads((folder / "corpus-sources.json").read_text(encoding="utf-8"))
    assert inv["sources_file_given"] is False
    by = {s["source_id"]: s for s in inv["sources"]}
    rows = snapshot_rows()
    for sid, s in by.items():
        mine = [r for r in rows if r["source_id"] == sid]
        assert s["documents"] == len(mine)
        assert s["robots_tdm"]["tdm_reserved"] == sum(bool(r["tdm_reserved"]) for r in mine)
        assert s["robots_tdm"]["robots_txt_unreachable"] == sum(
            r["access"]["robots_sha256"] == "-" for r in mine
        )
        assert s["collection_period"]["from"] == min(r["fetched_at"] for r in mine).strftime("%Y-%m-%d")
    md = (folder / "corpus-sources.zh.md").read_text(encoding="utf-8")
    assert md.startswith("# 语料来源清单") and "未提供" in md


def test_sources_inventory_with_the_sources_file(tmp_path: Path) -> None:
    folder = write_snapshot(tmp_path / "s")
    _cards(folder, load_sources(DEMO_SOURCES))
    inv = json.loads((folder / "corpus-sources.json").read_text(encoding="utf-8"))
    reg = next(s for s in inv["sources"] if s["source_id"] == "regulator")
    assert reg["name"] == "金融监管公开信息网" and "http://regulator.test/" in reg["urls"]
    assert "网络爬取" in reg["collection_method"] and reg["declared_licence"] == "cn-art5-official"
    assert inv["crawler_user_agent"].startswith("fincorpus/")


def test_data_product_sheet_has_the_three_parts(tmp_path: Path) -> None:
    folder = write_snapshot(tmp_path / "s")
    _cards(folder, load_sources(DEMO_SOURCES))
    md = (folder / "data-product.zh.md").read_text(encoding="utf-8")
    for heading in ("## 一、基本信息", "## 二、合法性", "## 三、可交易性"):
        assert heading in md
    p = json.loads((folder / "data-product.json").read_text(encoding="utf-8"))
    assert set(p) == {"title", "basic_information", "legality", "tradability"}
    assert p["basic_information"]["documents"] == 30 and p["basic_information"]["provider"] == "测试运营方"
    assert p["tradability"]["documents_by_allowed_use"]["research"] == 30
    assert p["legality"]["signing_key_fingerprint"] == "sm3:abc"
