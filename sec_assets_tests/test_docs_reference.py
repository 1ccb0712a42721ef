"""The docs: the generated reference pages match the code, and every relative link resolves."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sec_assets import docs_reference

ROOT = Path(__file__).resolve().parents[1]
LINK = re.compile(r"""!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+["'][^"']*["'])?\s*\)""")
FENCE = re.compile(r"^(```|~~~).*?^\1", re.S | re.M)
INLINE_CODE = re.compile(r"`+[^`\n]*`+")


def markdown_files() -> list[Path]:
    return [ROOT / "README.md", ROOT / "BENCHMARKS.md", *sorted((ROOT / "docs").rglob("*.md"))]


def relative_links(path: Path) -> list[str]:
    """Link targets of a Markdown file that point into the repository (not URLs, not bare anchors),
    leaving out anything inside code blocks or code spans."""
    text = INLINE_CODE.sub("", FENCE.sub("", path.read_text(encoding="utf-8")))
    targets = [m.group(1) for m in LINK.finditer(text)]
    return [t for t in targets if not re.match(r"^([a-z][a-z0-9+.-]*:|#|//)", t, re.I)]


@pytest.mark.parametrize("page", sorted(docs_reference.PAGES))
def test_reference_page_is_current(page: str) -> None:
    rel = docs_reference.REFERENCE / page
    generated = docs_reference.generate()[rel]
    path = ROOT / rel
    assert path.is_file(), f"{rel} is missing: run `python -m sec_assets.docs_reference` and commit it"
    assert path.read_text(encoding="utf-8") == generated, (
        f"{rel} differs from what the code generates: run `python -m sec_assets.docs_reference` "
        "(or `make docs`) and commit the result"
    )


def test_check_flag_names_stale_pages(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert docs_reference.main(["--root", str(tmp_path)]) == 0
    assert docs_reference.main(["--check", "--root", str(tmp_path)]) == 0
    stale = tmp_path / docs_reference.REFERENCE / "cli.md"
    stale.write_text(stale.read_text() + "\nedited by hand\n")
    capsys.readouterr()
    assert docs_reference.main(["--check", "--root", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "docs/reference/cli.md" in err and "settings.md" not in err


def test_generation_is_deterministic() -> None:
    assert docs_reference.generate() == docs_reference.generate()


def test_reference_covers_every_setting_view_and_command() -> None:
    from sec_assets.cli import build_parser
    from sec_assets.core.settings import ENV_FIELDS, GROUPS, Settings
    from sec_assets.core.store.schemas import VIEWS

    pages = {rel.name: text for rel, text in docs_reference.generate().items()}
    for group in GROUPS:
        assert f"## {group.__name__}" in pages["settings.md"]
    for name in Settings.model_fields:
        assert f"| `{name}` |" in pages["settings.md"], name
    for var in ENV_FIELDS:
        assert f"`{var}`" in pages["settings.md"], var
    for view in VIEWS:
        assert f"## {view}\n" in pages["catalog.md"], view
    for command in docs_reference._subparsers(build_parser()):
        assert f"`sec-assets {command[0]}`" in pages["cli.md"], command[0]


@pytest.mark.parametrize("path", markdown_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(path: Path) -> None:
    broken = []
    for target in relative_links(path):
        file_part = target.split("#", 1)[0]
        if file_part and not (path.parent / file_part).exists():
            broken.append(target)
    assert not broken, f"{path.relative_to(ROOT)} links to missing files: {broken}"


def test_link_finder_ignores_code_and_urls(tmp_path: Path) -> None:
    page = tmp_path / "p.md"
    page.write_text(
        "[a](x.md) [b](https://example.org) [c](#top) ![d](img/e.png 'title') `[no](code.md)`\n"
        "```\n[no](fenced.md)\n```\n[f](docs/g.md#part)\n"
    )
    assert relative_links(page) == ["x.md", "img/e.png", "docs/g.md#part"]


def test_readme_graph_is_the_definitions_graph() -> None:
    """The README's mermaid diagram has exactly the asset graph's edges (upstream --> downstream)."""
    from sec_assets.definitions import defs

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```mermaid\n(.*?)```", readme, re.S)
    assert block, "README.md has no mermaid diagram of the asset graph"
    drawn = set(re.findall(r"^\s*(\w+)\s*-->\s*(\w+)\s*$", block.group(1), re.M))
    actual = {
        (dep.asset_key.to_user_string(), spec.key.to_user_string())
        for spec in defs.resolve_all_asset_specs()
        for dep in spec.deps
    }
    assert drawn == actual, f"README graph: missing {sorted(actual - drawn)}, extra {sorted(drawn - actual)}"
