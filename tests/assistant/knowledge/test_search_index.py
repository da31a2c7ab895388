"""One contract for the search index, run on SQLite FTS5 and on the MongoDB wire protocol."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from assistant.knowledge.index import IndexedFile, SearchIndex
from assistant.knowledge.mongo_index import MongoIndex
from assistant.knowledge.passages import question_query, search_query, split_passages
from assistant.knowledge.sqlite_index import SqliteIndex
from tests.mongo import MongoServer


@pytest.fixture(params=["sqlite", "mongo"])
async def index(
    request: pytest.FixtureRequest, tmp_path: Path, mongo_server: MongoServer
) -> AsyncIterator[SearchIndex]:
    if request.param == "sqlite":
        async with SqliteIndex(tmp_path / "search.db") as sqlite:
            yield sqlite
        return
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        mongo_server.url(), serverSelectionTimeoutMS=5000
    )
    mongo = MongoIndex(client.get_default_database())
    await mongo.ensure_indexes()
    try:
        yield mongo
    finally:
        await client.close()


def file(fid: str, path: str, ws: str = "w1") -> IndexedFile:
    return IndexedFile(ws, fid, f"doc-{fid}", path)


FILLER = [
    "def render(page):\n    return template.format(page=page)\n",
    "# Notes\nThe meeting moved to Thursday.\n",
    "import os\n\nHOME = os.environ['HOME']\n",
    "class Cache:\n    def get(self, key):\n        return self.items.get(key)\n",
]


async def fill(index: SearchIndex, count: int = 40, ws: str = "w1") -> None:
    for n in range(count):
        await index.put(file(f"f{n}", f"src/mod{n}.py", ws), FILLER[n % len(FILLER)] * 3)


async def test_retrieval_finds_the_right_file_among_many(index: SearchIndex) -> None:
    await fill(index)
    body = "\n".join(f"line {n}" for n in range(60))
    body += "\ndef parse_config(path):\n    return loadYaml(path)\n"
    await index.put(file("target", "src/settings.py"), body)
    for question in ("where do we parse the config?", "parseConfig", "load yaml", "parse_config"):
        found = await index.search("w1", question_query(question), limit=5)
        assert found and found[0].file_id == "target", question
        top = found[0]
        assert top.path == "src/settings.py" and top.doc_id == "doc-target"
        assert top.start_line <= 61 <= top.end_line
        lines = top.text.split("\n")
        assert lines[61 - top.start_line] == "def parse_config(path):"
    found = await index.search("w1", search_query("parse config"), limit=5)
    assert [p.file_id for p in found] == ["target"]
    assert await index.search("w1", search_query("parse nothingsuch"), limit=5) == []


async def test_search_never_crosses_workspaces(index: SearchIndex) -> None:
    await index.put(file("a", "a.md", "w1"), "the secret recipe of w1")
    await index.put(file("b", "b.md", "w2"), "the secret recipe of w2")
    assert [p.file_id for p in await index.search("w1", question_query("recipe"), limit=10)] == [
        "a"
    ]
    assert [p.file_id for p in await index.search("w2", question_query("recipe"), limit=10)] == [
        "b"
    ]
    assert await index.search("w3", question_query("recipe"), limit=10) == []
    await index.remove_workspace("w1")
    assert await index.search("w1", question_query("recipe"), limit=10) == []
    assert len(await index.search("w2", question_query("recipe"), limit=10)) == 1


async def test_a_removed_or_replaced_file_is_not_found(index: SearchIndex) -> None:
    await index.put(file("a", "a.md"), "alpha bravo")
    await index.put(file("b", "b.md"), "alpha charlie")
    await index.remove("w1", "a")
    assert [p.file_id for p in await index.search("w1", question_query("alpha"), limit=10)] == ["b"]
    await index.put(file("b", "b.md"), "delta only now")
    assert await index.search("w1", question_query("charlie"), limit=10) == []
    assert len(await index.search("w1", question_query("delta"), limit=10)) == 1
    await index.remove("w1", "missing")  # nothing to forget: no error
    assert await index.files("w1") == {"b": "b.md"}


async def test_a_file_being_reindexed_is_found_by_every_search_meanwhile(
    index: SearchIndex,
) -> None:
    """Another pod searches while this one writes a file's new text: the file is found
    throughout, and once written the old text's passages are gone."""
    long = "".join(f"armadillo line {n}\n" for n in range(120))  # several passages
    short = "armadillo only\n"
    await index.put(file("a", "a.md"), long)
    searches: list[list[str]] = []

    async def search_meanwhile() -> None:
        for _ in range(30):
            found = await index.search("w1", search_query("armadillo"), limit=3)
            searches.append([p.file_id for p in found][:1])

    async def rewrite() -> None:
        for n in range(30):
            await index.put(file("a", "a.md"), short if n % 2 else long)

    await asyncio.gather(search_meanwhile(), rewrite())
    assert searches == [["a"]] * 30
    await index.put(file("a", "a.md"), short)
    found = await index.search("w1", search_query("armadillo"), limit=10)
    assert [(p.start_line, p.text) for p in found] == [(1, "armadillo only")]


async def test_a_moved_file_keeps_its_text_under_its_new_path(index: SearchIndex) -> None:
    await fill(index, 8)
    await index.put(file("a", "old/quokka.md"), "kiwi banana\n" * 50)
    await index.move("w1", "a", "new/zebra.md")
    found = await index.search("w1", question_query("kiwi"), limit=10)
    assert found and {p.path for p in found} == {"new/zebra.md"}
    by_path = await index.search("w1", search_query("zebra"), limit=10)
    assert by_path and by_path[0].file_id == "a"
    assert await index.search("w1", search_query("quokka"), limit=10) == []
    assert (await index.files("w1"))["a"] == "new/zebra.md"
    await index.move("w1", "missing", "x.md")


async def test_paging_tiles_the_ranking(index: SearchIndex) -> None:
    for n in range(12):
        await index.put(file(f"f{n}", f"f{n}.txt"), "word " * (n + 1) + "other " * 20)
    everything = await index.search("w1", search_query("word"), limit=100)
    assert len(everything) == 12
    scores = [p.score for p in everything]
    assert scores == sorted(scores, reverse=True)
    pages = [await index.search("w1", search_query("word"), limit=5, offset=o) for o in (0, 5, 10)]
    assert [len(page) for page in pages] == [5, 5, 2]
    assert [p.file_id for page in pages for p in page] == [p.file_id for p in everything]
    assert len(await index.search("w1", question_query("word other"), limit=3)) == 3
    assert await index.search("w1", search_query("word"), limit=0) == []


@pytest.mark.parametrize(
    "hostile",
    [
        '"',
        '"unclosed phrase',
        "*",
        "alpha*",
        "NEAR(alpha bravo)",
        "alpha OR bravo",
        "alpha AND NOT bravo",
        "-alpha",
        "body:alpha",
        "^alpha",
        "(((",
        "ünïcödé 日本語 🎉",
        "\x00\x01",
        "a" * 10_000,
        "alpha " * 2_000,
        "",
        "   ",
    ],
)
async def test_hostile_queries_never_raise(index: SearchIndex, hostile: str) -> None:
    await index.put(file("a", "a.md"), "alpha bravo ünïcödé 日本語")
    for query in (search_query(hostile), question_query(hostile)):
        found = await index.search("w1", query, limit=10)
        assert all(p.file_id == "a" for p in found)


async def test_the_first_full_indexing_is_remembered(index: SearchIndex) -> None:
    assert not await index.complete("w1")
    await index.mark_complete("w1")
    await index.mark_complete("w1")
    assert await index.complete("w1") and not await index.complete("w2")
    await index.remove_workspace("w1")
    assert not await index.complete("w1")


def test_passages_cover_every_line_with_overlap() -> None:
    text = "\n".join(f"line {n}" for n in range(1, 101)) + "\n"
    spans = split_passages(text, lines=40, overlap=10)
    assert [(s.start_line, s.end_line) for s in spans] == [(1, 40), (31, 70), (61, 100)]
    assert spans[1].text.split("\n")[0] == "line 31"
    assert split_passages("") == [] and split_passages("\n\n  \n") == []
    long = split_passages("x" * 10_000 + "\nshort\n", chars=4_000)
    assert [(s.start_line, s.end_line) for s in long] == [(1, 1), (2, 2)]
