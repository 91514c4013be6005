"""Tiny mirror-format sites written by tests (our own text), served by the real fixture server."""

from __future__ import annotations

from pathlib import Path


def write_site(root: Path, host: str, files: dict[str, str | bytes]) -> Path:
    for rel, content in files.items():
        p = root / host / rel.lstrip("/")
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return root


def page(title: str, body: str, links: list[str] = ()) -> str:  # type: ignore[assignment]
    anchors = "".join(f'<a href="{u}">{u}</a>' for u in links)
    return (
        f'<html><head><meta charset="utf-8"><title>{title}</title></head><body>'
        f"<nav>{anchors}</nav><article><h1>{title}</h1>{body}</article></body></html>"
    )


ARTICLE = "<p>" + "本所发布关于加强上市公司信息披露监管的通知，要求各上市公司严格履行披露义务。" * 4 + "</p>"
