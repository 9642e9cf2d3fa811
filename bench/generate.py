"""Benchmark data at realistic volume, recombined from the real texts in ../shared/data.

    .venv/bin/python -m bench.generate                      # bench/data/, seed 20261129
    .venv/bin/python -m bench.generate --outcomes 20000 --experts 10000 --out /tmp/small

Writes, in the formats an admin hands to `zhihui import` (Chinese headers, `编号` IDs):
- `institutions.csv`: the 2 820 real mainland universities (name, province) plus 403 provincial
  academies and research institutes (31 provinces × 13 kinds that exist in most provinces,
  e.g. 江苏省农业科学院): 3 223 institutions.
- `experts.csv`: synthetic people with plausible Chinese names (surnames by frequency, given
  names of one or two common characters), a title, an affiliation named as it appears in
  `institutions.csv` (large universities get more experts: Zipf weights), research areas and
  NSFC discipline codes matching the field of a real paper, and sometimes an e-mail address.
- `outcomes.jsonl`: papers, reports and policy briefs whose titles and abstracts are real CSL
  texts recombined within one 门类 (the head of one title joined to the tail of another at
  `的`; an abstract's closing sentences swapped for another paper's), with the first paper's
  keywords, 1–5 authors from the expert pool, 1–2 institutions by name, a date in 2010–2020
  and a visibility (85 % public, 10 % partner, 5 % internal).

Everything is a function of the seed: the same arguments write byte-identical files.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import random
import re
from bisect import bisect
from collections import defaultdict
from collections.abc import Iterator
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import accumulate
from pathlib import Path

from tests.data import SHARED_DATA
from tests.data import universities

DEFAULT_OUT = Path(__file__).parent / "data"
DEFAULT_SEED = 20261129
CSL = SHARED_DATA / "csl-benchmark"
NSFC = SHARED_DATA / "nsfc-disciplines" / "nsfc_disciplines.jsonl"

# Kinds of provincial institute found in nearly every province (name = province + kind).
PROVINCIAL_INSTITUTES = (
    "农业科学院", "社会科学院", "医学科学院", "林业科学研究院", "水利科学研究院",
    "环境科学研究院", "交通科学研究院", "地质调查院", "计量测试研究院", "中医药研究院",
    "科学技术情报研究所", "建筑科学研究院", "发展研究中心",
)  # fmt: skip
# The 100 most common surnames, most frequent first (one-character names only).
SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程"
    "苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝"
    "龚邵万钱严覃武戴莫孔向汤"
)
GIVEN = (
    "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍建国志红林峰海燕波宁文斌鹏辉欣怡浩"
    "宇晨阳佳琪俊凯晓东雪梅婷颖博飞昊然子轩思远嘉慧瑞雨晴宏伟永春亮丹新民立成振中秋月金龙小云"
)
TITLES = (
    "教授",
    "副教授",
    "研究员",
    "副研究员",
    "讲师",
    "助理研究员",
    "高级工程师",
    "正高级工程师",
)
TITLE_WEIGHTS = (22, 20, 16, 14, 10, 8, 6, 4)
OUTCOME_TYPES = ("论文", "研究报告", "政策建议", "著作")
OUTCOME_TYPE_WEIGHTS = (70, 15, 10, 5)
VISIBILITIES = ("公开", "合作", "内部")
VISIBILITY_WEIGHTS = (85, 10, 5)
# NSFC departments (科学部) whose codes suit a CSL 门类.
NSFC_DEPARTMENTS = {
    "工学": "EF", "理学": "ABD", "医学": "H", "农学": "C", "管理学": "G", "经济学": "G",
    "法学": "G", "教育学": "G", "文学": "G", "历史学": "G", "哲学": "G", "艺术学": "G",
    "军事学": "EF",
}  # fmt: skip
SERIES = {
    "工学": ("工程科学学报", "机械工程学报", "电子学报", "土木工程学报", "计算机学报"),
    "理学": ("物理学报", "化学学报", "数学学报", "地理学报", "生态学报"),
    "医学": ("中华医学杂志", "中国中药杂志", "中华护理杂志", "中国公共卫生"),
    "农学": ("农业工程学报", "中国农业科学", "作物学报", "林业科学"),
    "管理学": ("管理世界", "中国软科学", "科研管理", "管理科学学报"),
    "经济学": ("经济研究", "中国工业经济", "金融研究", "经济学动态"),
}  # fmt: skip
OTHER_SERIES = ("中国社会科学", "政治学研究", "智库理论与实践", "中国科学院院刊")


@dataclass(frozen=True)
class Paper:
    """A real CSL paper: the material outcomes are recombined from."""

    title: str
    abstract: str
    keywords: tuple[str, ...]
    category: str


@dataclass(frozen=True)
class Sources:
    """The real texts, grouped by 门类."""

    papers: dict[str, list[Paper]]
    titles: dict[str, list[str]]  # papers' titles plus the 8 000 title-only rows
    nsfc_codes: dict[str, list[str]]  # department letter -> level-2 codes

    @property
    def categories(self) -> list[str]:
        return sorted(self.papers)


def load_sources() -> Sources:
    papers: dict[str, list[Paper]] = defaultdict(list)
    titles: dict[str, list[str]] = defaultdict(list)
    with (CSL / "csl_benchmark_2000.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            paper = Paper(row["title"], row["abstract"], tuple(row["keywords"]), row["category"])
            papers[paper.category].append(paper)
            titles[paper.category].append(paper.title)
    with (CSL / "raw" / "cls_ctg_train.tsv").open(encoding="utf-8") as handle:
        for line in handle:
            _prompt, title, category = line.rstrip("\n").split("\t")
            if category in papers:
                titles[category].append(title)
    nsfc: dict[str, list[str]] = defaultdict(list)
    with NSFC.open(encoding="utf-8") as handle:
        for line in handle:
            code = json.loads(line)["_id"]
            if len(code) == 5:  # level 2, e.g. F0201
                nsfc[code[0]].append(code)
    return Sources(dict(papers), dict(titles), dict(nsfc))


def institution_names() -> list[tuple[str, str, str]]:
    """(name, type label, province) of every institution, universities first."""
    rows = [(name, "高校", province) for name, province in universities()]
    provinces = list(dict.fromkeys(province for _name, province in universities()))
    for province in provinces:
        prefix = province if province.endswith(("省", "市")) else _province_prefix(province)
        for kind in PROVINCIAL_INSTITUTES:
            rows.append((f"{prefix}{kind}", "科研机构", province))
    return rows


def _province_prefix(province: str) -> str:
    """北京 → 北京市, 广西 → 广西壮族自治区, 江苏 → 江苏省: how the institutes' names begin."""
    autonomous = {
        "内蒙古": "内蒙古自治区", "广西": "广西壮族自治区", "西藏": "西藏自治区",
        "宁夏": "宁夏回族自治区", "新疆": "新疆维吾尔自治区",
    }  # fmt: skip
    if province in autonomous:
        return autonomous[province]
    if province in ("北京", "天津", "上海", "重庆"):
        return f"{province}市"
    return f"{province}省"


class Weighted:
    """Draws from a sequence with fixed weights (cumulative table, bisect)."""

    def __init__(self, items: Sequence[object], weights: Sequence[float]) -> None:
        self.items = items
        self.cumulative = list(accumulate(weights))

    def draw(self, rng: random.Random) -> object:
        return self.items[bisect(self.cumulative, rng.random() * self.cumulative[-1])]


def _sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[。；.!?！？])", text) if s.strip()]


def recombine_title(head: str, tail: str) -> str:
    """Head of one title up to its first `的`, tail of another after its last `的`."""
    if "的" in head and "的" in tail:
        left = head.split("的", 1)[0]
        right = tail.rsplit("的", 1)[1]
        if min(len(left), len(right)) >= 4:
            return f"{left}的{right}"
    return head


def recombine_abstract(first: str, second: str, rng: random.Random) -> str:
    """The first abstract's opening sentences, closed by the second's last ones."""
    a, b = _sentences(first), _sentences(second)
    if len(a) < 2 or len(b) < 2:
        return first
    keep = rng.randint(1, len(a) - 1)
    return "".join(a[:keep] + b[-rng.randint(1, min(2, len(b) - 1)) :])


def person_name(rng: random.Random, surnames: Weighted) -> str:
    given = "".join(rng.choice(GIVEN) for _ in range(1 if rng.random() < 0.3 else 2))
    return f"{surnames.draw(rng)}{given}"


def _external_id(prefix: str, number: int) -> str:
    return f"{prefix}{number:06d}"


def write_institutions(path: Path, rows: list[tuple[str, str, str]]) -> None:
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["编号", "单位名称", "机构类型", "省份"])
        for number, (name, kind, province) in enumerate(rows, 1):
            writer.writerow([_external_id("I", number), name, kind, province])


def experts(
    count: int, rng: random.Random, institutions: list[tuple[str, str, str]], sources: Sources
) -> Iterator[list[str]]:
    """CSV rows of `count` experts (header first)."""
    surnames = Weighted(SURNAMES, [1 / (rank + 1) ** 0.7 for rank in range(len(SURNAMES))])
    # Zipf weights: the first universities of each province's list are the large ones.
    employers = Weighted(institutions, [1 / (rank % 97 + 1) for rank in range(len(institutions))])
    titles = Weighted(TITLES, TITLE_WEIGHTS)
    yield ["编号", "姓名", "职称", "工作单位", "研究方向", "学科", "邮箱"]
    for number in range(1, count + 1):
        category = rng.choice(sources.categories)
        paper = rng.choice(sources.papers[category])
        areas = rng.sample(paper.keywords, k=min(len(paper.keywords), rng.randint(1, 3)))
        department = rng.choice(NSFC_DEPARTMENTS.get(category, "G"))
        discipline = rng.choice(sources.nsfc_codes[department])
        name = person_name(rng, surnames)
        employer = employers.draw(rng)[0]  # type: ignore[index]
        digest = hashlib.blake2b(f"{number}".encode(), digest_size=3).hexdigest()
        email = f"expert{number}.{digest}@example.edu.cn" if rng.random() < 0.3 else ""
        yield [
            _external_id("E", number), name, titles.draw(rng), employer,  # type: ignore[list-item]
            "；".join(areas), discipline, email,
        ]  # fmt: skip


def outcomes(
    count: int,
    rng: random.Random,
    institutions: list[tuple[str, str, str]],
    expert_names: list[str],
    sources: Sources,
) -> Iterator[dict[str, object]]:
    """`count` outcome rows, as JSON objects with the import's Chinese headers."""
    types = Weighted(OUTCOME_TYPES, OUTCOME_TYPE_WEIGHTS)
    visibilities = Weighted(VISIBILITIES, VISIBILITY_WEIGHTS)
    categories = Weighted(sources.categories, [len(sources.titles[c]) for c in sources.categories])
    for number in range(1, count + 1):
        category: str = categories.draw(rng)  # type: ignore[assignment]
        papers, titles = sources.papers[category], sources.titles[category]
        first, second = rng.choice(papers), rng.choice(papers)
        # Most titles open with the first paper's own title, so title and abstract agree.
        head = first.title if rng.random() < 0.7 else rng.choice(titles)
        title = recombine_title(head, rng.choice(titles))
        if title == head and rng.random() < 0.6:
            # Case-study titles, as reports and regional studies often have.
            title = f"{title}——以{rng.choice(institutions)[2]}为例"
        keywords = list(first.keywords)
        if rng.random() < 0.4:
            keywords.append(rng.choice(second.keywords))
        series = SERIES.get(category, OTHER_SERIES)
        yield {
            "编号": _external_id("O", number),
            "题名": title,
            "摘要": recombine_abstract(first.abstract, second.abstract, rng),
            "关键词": "；".join(dict.fromkeys(keywords)),
            "成果类型": types.draw(rng),
            "刊名": rng.choice(series),
            "作者": "；".join(rng.sample(expert_names, k=rng.randint(1, 5))),
            "单位": "；".join(rng.choice(institutions)[0] for _ in range(rng.randint(1, 2))),
            "发表日期": f"{rng.randint(2010, 2020)}-{rng.randint(1, 12):02d}",
            "公开范围": visibilities.draw(rng),
        }


def generate(out: Path, *, seed: int, expert_count: int, outcome_count: int) -> dict[str, int]:
    """Write the three files under `out`; the number of rows of each."""
    out.mkdir(parents=True, exist_ok=True)
    sources = load_sources()
    institutions = institution_names()
    write_institutions(out / "institutions.csv", institutions)
    rng = random.Random(seed)
    expert_names: list[str] = []
    with (out / "experts.csv").open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        for row in experts(expert_count, rng, institutions, sources):
            writer.writerow(row)
            expert_names.append(row[1])
    del expert_names[0]  # the header
    with (out / "outcomes.jsonl").open("w", encoding="utf-8") as handle:
        for row in outcomes(outcome_count, rng, institutions, expert_names, sources):
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    return {
        "institutions": len(institutions),
        "experts": expert_count,
        "outcomes": outcome_count,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--experts", type=int, default=50_000)
    parser.add_argument("--outcomes", type=int, default=100_000)
    args = parser.parse_args()
    counts = generate(
        args.out, seed=args.seed, expert_count=args.experts, outcome_count=args.outcomes
    )
    for name, count in counts.items():
        print(f"{name:<13}{count:>8,}  {args.out / name}")


if __name__ == "__main__":
    main()
