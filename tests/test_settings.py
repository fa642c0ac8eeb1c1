"""Settings: one object per command, option > DATAPOOL_* > default, secrets never shown."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from cliutil import assert_one_clear_line, invoke
from pydantic import SecretStr

from datapool.errors import ConfigError
from datapool.settings import SAMPLES, Settings, redact_url, resolve_settings

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _no_datapool_env(monkeypatch):
    for name in list(__import__("os").environ):
        if name.startswith("DATAPOOL_"):
            monkeypatch.delenv(name)


@pytest.mark.parametrize(
    ("env", "options", "field", "want"),
    [
        ({}, {}, "threshold", 25),
        ({"DATAPOOL_THRESHOLD": "30"}, {}, "threshold", 30),
        ({"DATAPOOL_THRESHOLD": "30"}, {"threshold": 40}, "threshold", 40),
        ({"DATAPOOL_THRESHOLD": "30"}, {"threshold": None}, "threshold", 30),
        ({"DATAPOOL_THRESHOLD": ""}, {}, "threshold", 25),  # empty = unset
        ({}, {}, "input_root", SAMPLES),
        ({"DATAPOOL_INPUT_ROOT": "/x"}, {}, "input_root", Path("/x")),
        ({"DATAPOOL_INPUT_ROOT": "/x"}, {"input_root": Path("/y")}, "input_root", Path("/y")),
        ({"DATAPOOL_OUT_DIR": "/o"}, {}, "out_dir", Path("/o")),
        ({"DATAPOOL_INPUT_ROOT": "/x"}, {}, "grids_path", Path("/x/grids.geojson")),
        ({"DATAPOOL_GRIDS_PATH": "/g.json"}, {}, "grids_path", Path("/g.json")),
        ({"DATAPOOL_LOCK_TIMEOUT": "5"}, {}, "lock_timeout", 5.0),
        ({"DATAPOOL_HMAC_KEY": "k1"}, {}, "hmac_key", "k1"),
        ({}, {"hmac_key": "k2"}, "hmac_key", "k2"),
        ({"DATAPOOL_OUT_DIR": "/o"}, {}, "warehouse_url", "sqlite:////o/warehouse.sqlite"),
        (
            {"DATAPOOL_OUT_DIR": "/o", "DATAPOOL_WAREHOUSE_URL": "postgresql://u:p@h/d"},
            {},
            "warehouse_url",
            "postgresql://u:p@h/d",
        ),
        (
            {"DATAPOOL_WAREHOUSE_URL": "postgresql://u:p@h/d"},
            {"warehouse_url": "sqlite:////w.sqlite"},
            "warehouse_url",
            "sqlite:////w.sqlite",
        ),
        ({"DATAPOOL_INPUT_ROOT": "/x"}, {}, "members_url", "sqlite:////x/members.sqlite"),
        ({"DATAPOOL_MEMBERS_URL": "sqlite:////m.db"}, {}, "members_url", "sqlite:////m.db"),
    ],
)
def test_option_beats_env_beats_default(monkeypatch, env, options, field, want):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    got = getattr(resolve_settings(**options), field)
    assert (got.get_secret_value() if isinstance(got, SecretStr) else got) == want


def test_readme_lists_every_setting():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    listed = set(re.findall(r"`DATAPOOL_([A-Z_]+)`", readme))
    assert listed == {name.upper() for name in Settings.model_fields}


@pytest.mark.parametrize(
    ("env", "words"),
    [
        ({"DATAPOOL_THRESHOLD": "many"}, ["DATAPOOL_THRESHOLD", "integer"]),
        ({"DATAPOOL_THRESHOLD": "-1"}, ["DATAPOOL_THRESHOLD", "greater than"]),
        ({"DATAPOOL_LOCK_TIMEOUT": "0"}, ["DATAPOOL_LOCK_TIMEOUT", "greater than"]),
    ],
)
def test_bad_env_value_is_one_clear_line(monkeypatch, capsys, env, words):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError):
        resolve_settings()
    code, _out, err = invoke(capsys, "run", "--quiet")
    assert code == 2
    assert_one_clear_line(code, err, *words)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            "postgresql+psycopg://etl:s3cret@dw:5432/pool",
            "postgresql+psycopg://etl:***@dw:5432/pool",
        ),
        ("postgresql://etl:p%40ss@dw/pool", "postgresql://etl:***@dw/pool"),
        ("postgresql://etl@dw/pool", "postgresql://etl@dw/pool"),
        ("sqlite:////tmp/w.sqlite", "sqlite:////tmp/w.sqlite"),
        ("not a url with s3cret", "<unparseable URL>"),
        (SecretStr("mysql://a:s3cret@h/d"), "mysql://a:***@h/d"),
    ],
)
def test_redact_url_hides_passwords(url, shown):
    assert redact_url(url) == shown


def test_secrets_never_print(monkeypatch):
    monkeypatch.setenv("DATAPOOL_WAREHOUSE_URL", "postgresql://etl:s3cret@dw/pool")
    monkeypatch.setenv("DATAPOOL_HMAC_KEY", "k3y-s3cret")
    cfg = resolve_settings()
    for text in (repr(cfg), str(cfg), cfg.model_dump_json()):
        assert "s3cret" not in text


def test_unknown_setting_fails():
    with pytest.raises(ConfigError, match="thresold"):
        resolve_settings(thresold=3)


_ENV_WRITERS = {"setdefault", "update", "pop", "popitem", "clear", "__setitem__", "__delitem__"}


def _environ_writes(tree: ast.AST) -> list[int]:
    """Lines that change the process environment (os.environ[...] = / del, its writers, putenv)."""

    def is_environ(node: ast.AST) -> bool:
        return isinstance(node, ast.Attribute) and node.attr == "environ"

    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign | ast.AugAssign | ast.Delete):
            targets = node.targets if isinstance(node, ast.Assign | ast.Delete) else [node.target]
            lines += [
                node.lineno for t in targets if isinstance(t, ast.Subscript) and is_environ(t.value)
            ]
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            f = node.func
            if (f.attr in _ENV_WRITERS and is_environ(f.value)) or f.attr in {"putenv", "unsetenv"}:
                lines.append(node.lineno)
    return lines


# The one write outside the CLI entry: the package gives polars' allocator its default
# (datapool/__init__.py) before anything imports polars, so a flow run by a Prefect worker gets
# it too; setdefault keeps a value the user set.
_ALLOWED = {'os.environ.setdefault("_RJEM_MALLOC_CONF", "muzzy_decay_ms:0")'}


def test_no_environment_writes_outside_the_cli_entry():
    from conftest import PACKAGE_DIRS

    found = {}
    for d in PACKAGE_DIRS:
        for path in sorted((ROOT / d).rglob("*.py")):
            text = path.read_text(encoding="utf-8")
            lines = text.splitlines()
            found[str(path.relative_to(ROOT))] = [
                n for n in _environ_writes(ast.parse(text)) if lines[n - 1].strip() not in _ALLOWED
            ]
    assert {p: ls for p, ls in found.items() if ls and p != "datapool/cli.py"} == {}
    assert found["datapool/cli.py"]  # the check sees the writes the CLI entry does make


# --- the HMAC key: no default, from the environment or a Prefect Secret block -------------------


@pytest.mark.parametrize(
    ("env", "words"),
    [
        ({}, ["no HMAC key", "DATAPOOL_HMAC_KEY", "datapool-public-test-key"]),
        ({"DATAPOOL_HMAC_KEY": "short"}, ["too short"]),
        ({"DATAPOOL_HMAC_KEY_BLOCK": "no-such-block"}, ["Secret block 'no-such-block'"]),
    ],
)
def test_a_run_without_a_usable_key_stops_with_one_line(
    monkeypatch, capsys, prefect_harness, env, words
):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    code, _out, err = invoke(capsys, "run", "--quiet")
    assert_one_clear_line(code, err, *words)
    assert code == 2


def test_the_key_may_live_in_a_prefect_secret_block(prefect_harness):
    from prefect.blocks.system import Secret

    Secret(value="a-key-kept-in-prefect-0123").save("datapool-hmac-test", overwrite=True)
    cfg = Settings(hmac_key_block="datapool-hmac-test").with_key()
    assert cfg.hmac_key.get_secret_value() == "a-key-kept-in-prefect-0123"
    # a key given directly wins over the block
    direct = Settings(hmac_key="k" * 20, hmac_key_block="datapool-hmac-test").with_key()
    assert direct.hmac_key.get_secret_value() == "k" * 20


def test_the_flow_itself_refuses_to_run_without_a_key(prefect_harness):
    from datapool.flows.snapshot import snapshot_flow

    with pytest.raises(ConfigError, match="no HMAC key"):
        snapshot_flow(snapshot="2099-01", settings=Settings())  # a month no other test reads
