"""Personal data, in one place: the keyed hash, the redaction patterns, and which columns are kept.

What the pipeline does with personal data (the README's personal-data section says the same):

* **Kept**: the columns each export spec names (identifiers, names, addresses, counts, dates,
  statuses), and of the columns no spec names only those in :data:`KEPT_EXTRA_COLUMNS`. Free
  text that is kept (extra columns, and the values of a quarantined row) has phone numbers, ID
  numbers and e-mail addresses blanked by :func:`redact_series`; notes people write (a visit's
  free text, a review note) also people named by title or role (:data:`PERSON_REDACTIONS`).
* **Hashed** with :func:`keyed_hash` (HMAC-SHA256 under the run's key): phone numbers, union
  members' ids, the raw text of a row that could not be split into fields, and the anchors of
  new enterprise ids.
* **Dropped**: columns with the ``personal`` parser (legal representatives), every extra column
  not in the allow-list (contact persons, 办税人, 联系方式, Tel, ...), and the text of rows that
  cannot be parsed (their row number, field count, reason and keyed hash are kept instead).

Redaction is written once, in polars' regex dialect (no look-around); :func:`redact` runs the
same expressions on one string, so Python and polars cannot drift apart.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata

import polars as pl

KEY_ENV = "DATAPOOL_HMAC_KEY"
TEST_KEY = "datapool-public-test-key"
"""The documented key for the bundled samples and the tests. It is public, so hashes made with
it protect nothing: never use it for real exports."""
MIN_KEY_LENGTH = 16
HASH_HEX = 16  # hex characters kept of a keyed hash (64 bits)

# Columns no spec names that are kept (headers compare after NFKC with spaces dropped, see
# norm_header). Everything else an agency adds is dropped on read: a deny-list of header words
# always misses one (办税人, 联系方式, Tel, ...).
KEPT_EXTRA_COLUMNS = frozenset(
    {
        "主管税务所",
        "主管税务机关",
        "登记机关",
        "发证机关",
        "经营范围",
        "所属行业",
        "行业门类",
        "行政区划",
        "所属街道",
        "所属乡镇",
        "所属社区",
        "数据来源",
    }
)

# Personal-looking values in kept free text, and their placeholders; applied in this order.
# Phone numbers written with separators or a country code go first, then any run of 7 or more
# digits (local landlines, mobiles, 15- and 18-digit ID numbers with their check letter X).
# Dates (2019-03-05) and house numbers are left alone.
REDACTIONS: tuple[tuple[str, str], ...] = (
    (r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(\.[A-Za-z0-9\-]+)+", "<email>"),
    (r"(\+|＋|00)?86[\s\-]*1[3-9]\d[\s\-]*\d{4}[\s\-]*\d{4}", "<phone>"),
    (r"1[3-9]\d[\s\-]\d{4}[\s\-]?\d{4}", "<phone>"),
    (r"\(?0\d{2,3}\)?[\s\-]\d{7,8}", "<phone>"),
    (r"\d{7,}[Xx]?", "<number>"),
)
_REDACT_HINT = r"\d{7}|@|\d[\s\-]\d{4}|\d[\s\-]\d{7}"  # values that may match any of REDACTIONS

# A person named in free text (a visit's 企业顾虑, a reviewer's note) the way such notes name
# people: a common surname before a title or form of address (王经理, 陈女士), or a role word
# before a surname and one or two characters that end at a separator (联系人刘芳，…, 职工张某
# 身份证…). The surname goes (``<name>``), the title or role stays, so the note keeps its sense.
# Surnames: the commonest single ones (most of China's population; less those that mostly end a
# word before a title: 公司, 保安, 党总支) and a few compound ones. 李总 counts only at a
# separator or before a verb of speech (完成总产值 is no one). A name written bare (张三工伤)
# or after another word cannot be told from other words and is kept: the README says so.
SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程"
    "苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史黎贺顾毛郝"
    "龚邵万钱严覃武戴莫孔向汤常温康施文牛樊葛邢齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿关兰焦"
    "俞左柳甘祝包宁尚符舒阮柯纪梅童凌毕单季裴霍涂成苗谷盛曲翁冉骆蓝路游辛靳管柴蒙鲍华喻祁蒲"
    "房滕屈饶解牟艾尤阳穆农卓古吉缪简车项连芦麦褚娄窦戚岑景宫费卜冷晏席卫米柏宗瞿桂"
    "佟臧闵苟邬边卞姬师仇栾隋商刁沙荣巫寇桑郎甄丛仲虞敖巩佘池查麻苑迟邝"
)
COMPOUND_SURNAMES = ("欧阳", "司马", "诸葛", "上官", "司徒", "东方", "皇甫", "尉迟", "公孙", "慕容")
TITLES = (
    "先生", "女士", "小姐", "总经理", "总监", "经理", "厂长", "店长", "场长", "主任", "书记",
    "会计", "出纳", "师傅", "老板", "老师", "律师", "医生", "主席", "队长", "组长", "班长",
)  # fmt: skip
ROLES = (
    "联系人", "负责人", "法定代表人", "法人代表", "法人", "老板娘", "老板", "经理", "厂长",
    "店长", "会计", "出纳", "职工", "员工", "工人", "股东", "业主", "户主", "家属", "对接人",
)  # fmt: skip
_SURNAME = "(?:" + "|".join(COMPOUND_SURNAMES) + f"|[{SURNAMES}])"
_END = r"([\s,，.。;；:：、!！?？()（）<\[\]【】\d]|电话|手机|联系|微信|$)"
PERSON_REDACTIONS: tuple[tuple[str, str], ...] = (
    (f"{_SURNAME}({'|'.join(TITLES)})", "<name>${1}"),
    (f"{_SURNAME}总({_END[1:-1]}|说|称|讲|表示|介绍|同意|答应|在|不在|出差)", "<name>总${1}"),
    (
        f"({'|'.join(ROLES)})([:：\\s]*){_SURNAME}[\u4e00-\u9fff]{{0,2}}?{_END}",
        "${1}${2}<name>${3}",
    ),
)
_PERSON_HINT = "|".join((*TITLES, *ROLES, "总"))  # values that may match any of PERSON_REDACTIONS


def check_key(key: str | None) -> str:
    """Return ``key`` if it can key the hashes; raise ValueError with the fix otherwise."""
    if not key:
        raise ValueError(
            f"no HMAC key: set {KEY_ENV} to a secret of {MIN_KEY_LENGTH}+ characters (or "
            "DATAPOOL_HMAC_KEY_BLOCK to the name of a Prefect Secret block holding one); "
            f"for the bundled samples only, the public test key: {KEY_ENV}={TEST_KEY}"
        )
    if len(key) < MIN_KEY_LENGTH:
        raise ValueError(f"the HMAC key is too short: use {MIN_KEY_LENGTH} characters or more")
    return key


def keyed_hash(value: str, key: str) -> str:
    """HMAC-SHA256 of ``value`` under ``key``, 16 hex characters."""
    return hmac.new(key.encode(), value.encode(), hashlib.sha256).hexdigest()[:HASH_HEX]


def file_label(name: str, key: str, kind: str) -> str:
    """The label a handed-in file is stored under instead of its name (which may hold a
    person's name, e.g. a grid worker's on a printed sheet): ``F`` + 12 hex digits of a keyed
    hash of ``kind`` and the name."""
    return "F" + keyed_hash(kind + "\x1f" + name, key)[:12].upper()


def keyed_hashes(values: pl.Series, key: str) -> pl.Series:
    """:func:`keyed_hash` of every value (nulls stay null), one HMAC per distinct value."""
    distinct = values.drop_nulls().unique().to_list()
    return values.replace_strict(
        {v: keyed_hash(str(v), key) for v in distinct}, default=None, return_dtype=pl.Utf8
    )


def norm_header(text: object) -> str:
    """Headers compare after NFKC (full-width parentheses), with spaces dropped."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", str(text or "")))


def kept_extra(header: str) -> bool:
    """Whether a column no spec names is kept (see :data:`KEPT_EXTRA_COLUMNS`)."""
    return norm_header(header) in KEPT_EXTRA_COLUMNS


def redact_series(values: pl.Series, persons: bool = False) -> pl.Series:
    """Blank phone numbers, ID numbers and e-mail addresses in a text column (:data:`REDACTIONS`),
    and with ``persons`` also people named by title or role (:data:`PERSON_REDACTIONS`: for
    notes people write, such as a visit's 企业顾虑; not for agency columns like 经营范围).

    Only the values that may hold one are rewritten (most hold none).
    """
    values = values.cast(pl.Utf8)
    steps = [(_REDACT_HINT, REDACTIONS)]
    if persons:
        steps.append((_PERSON_HINT, PERSON_REDACTIONS))
    for hint, patterns in steps:
        hit = values.str.contains(hint).fill_null(False)
        if not hit.any():
            continue
        found = values.filter(hit)
        for pattern, tag in patterns:
            found = found.str.replace_all(pattern, tag)
        values = values.scatter(hit.arg_true(), found)
    return values


def redact(text: str, persons: bool = False) -> str:
    """:func:`redact_series` of one string."""
    return str(redact_series(pl.Series([text], dtype=pl.Utf8), persons)[0])
