"""``midwatch rules ...`` and ``midwatch silence ...``: argument handling and printing only.

Exit status: 0 success; 1 validation errors, failed rule tests or a silence not found;
2 a config or store that cannot be used.
"""

from __future__ import annotations

import argparse
import getpass
import json
import signal
import sys
import threading
import time

from collector.terminal import safe
from collector.yamlconf import ConfigError

_CONFIG_HELP = "config file (default: $MIDWATCH_CONFIG)"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("rules", help="validate, test, evaluate and run alert rules")
    rs = p.add_subparsers(dest="rules_command", metavar="COMMAND", required=True)

    v = rs.add_parser("validate", help="check rule files or a config file; exit 1 on errors")
    v.add_argument("paths", nargs="*", metavar="PATH",
                   help="rule files, directories of them, or a config file (default: the "
                        "-c config's rules)")
    v.add_argument("-c", "--config", metavar="FILE",
                   help="config whose notifiers the rules may name (checks notify:)")
    v.set_defaults(func=validate)

    t = rs.add_parser("test", help="run rule test files; exit 1 when an expectation fails")
    t.add_argument("files", nargs="+", metavar="FILE")
    t.set_defaults(func=test)

    e = rs.add_parser("eval", help="evaluate all rules once at a time, without notifying")
    e.add_argument("-c", "--config", metavar="FILE", help=_CONFIG_HELP)
    e.add_argument("--at", required=True, metavar="TIMESTAMP",
                   help="ISO-8601 time, epoch milliseconds, 'now' or a duration ago (2h)")
    e.add_argument("--json", action="store_true", help="one JSON object per alert")
    e.set_defaults(func=evaluate)

    b = rs.add_parser("backfill", help="replay the rules over a past span: the alert timeline "
                                       "and pages they would have caused (nothing is sent)")
    b.add_argument("-c", "--config", metavar="FILE", help=_CONFIG_HELP)
    b.add_argument("--from", dest="start", required=True, metavar="TIMESTAMP",
                   help="first evaluation: ISO-8601 time, epoch milliseconds or a duration "
                        "ago (24h)")
    b.add_argument("--to", dest="end", required=True, metavar="TIMESTAMP",
                   help="last evaluation (inclusive): ISO-8601, epoch milliseconds, 'now' or "
                        "a duration ago")
    b.add_argument("--step", default="1m", metavar="DURATION",
                   help="time between evaluations (default 1m)")
    b.add_argument("--rules", metavar="NAME,...", help="only these rules (default: all enabled)")
    b.add_argument("--json", action="store_true", help="the timeline and summary as one JSON document")
    b.set_defaults(func=backfill)

    r = rs.add_parser("run", help="evaluate the rules every interval and notify")
    r.add_argument("-c", "--config", metavar="FILE", help=_CONFIG_HELP)
    r.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    r.set_defaults(func=run)

    x = rs.add_parser("explain", help="why was (or was not) a rule's alert paged?")
    x.add_argument("rule", metavar="RULE")
    x.add_argument("--at", default="now", metavar="TIMESTAMP",
                   help="ISO-8601 time, epoch milliseconds, a duration ago (2h) or 'now' "
                        "(default)")
    x.add_argument("--labels", metavar="LABEL=VALUE,...", help="only the groups with these labels")
    x.add_argument("--json", action="store_true", help="the explanation as one JSON document")
    x.add_argument("-c", "--config", metavar="FILE", help=_CONFIG_HELP)
    x.set_defaults(func=explain)

    ls = rs.add_parser("list", help="show the loaded rules and notifiers (secrets hidden)")
    ls.add_argument("-c", "--config", metavar="FILE", help=_CONFIG_HELP)
    ls.add_argument("--types", action="store_true",
                    help="instead: the rule types, built-in or from plug-ins, and their origin")
    ls.add_argument("--notifiers", action="store_true",
                    help="instead: the notifier types, built-in or from plug-ins, and their origin")
    ls.set_defaults(func=list_rules)

    nt = sub.add_parser("notify", help="notifiers: send a test notification")
    nts = nt.add_subparsers(dest="notify_command", metavar="COMMAND", required=True)
    ntt = nts.add_parser("test", help="send a labelled test notification (and its resolve) "
                                      "and print the receiver's answers")
    ntt.add_argument("notifier", metavar="NOTIFIER")
    ntt.add_argument("-c", "--config", metavar="FILE", help=_CONFIG_HELP)
    ntt.set_defaults(func=notify_test)

    s = sub.add_parser("silence", help="mute matching alerts for a while")
    ss = s.add_subparsers(dest="silence_command", metavar="COMMAND", required=True)
    a = ss.add_parser("add", help="add a silence")
    a.add_argument("--match", required=True, metavar="LABEL=VALUE,...",
                   help="matchers, e.g. rule=o2c-failures,flow=o2c (also !=, =~, !~)")
    a.add_argument("--for", dest="duration", required=True, metavar="DURATION", help="e.g. 2h")
    a.add_argument("--comment", required=True, help="why: the next on-call reads it")
    a.add_argument("--author", default=None, help="who (default: the login name)")
    a.add_argument("-c", "--config", metavar="FILE", help=_CONFIG_HELP)
    a.set_defaults(func=silence_add)
    sl = ss.add_parser("list", help="list active and recently expired silences")
    sl.add_argument("-c", "--config", metavar="FILE", help=_CONFIG_HELP)
    sl.set_defaults(func=silence_list)
    se = ss.add_parser("expire", help="end a silence now")
    se.add_argument("id", metavar="ID")
    se.add_argument("-c", "--config", metavar="FILE", help=_CONFIG_HELP)
    se.set_defaults(func=silence_expire)


def _fail(command: str, exc: Exception, code: int = 2) -> int:
    print(f"midwatch {command}: {exc}", file=sys.stderr)
    return code


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


# ------------------------------------------------------------------ rules validate / test

def validate(args: argparse.Namespace) -> int:
    from collector.yamlconf import load
    from rules.config import load_notifiers, load_rules_config
    from rules.loader import load_rules
    from rules.silence_files import load_silences

    if not args.paths and not args.config:
        return _fail("rules validate", "give rule files or directories, a config file, or -c "
                     "CONFIG")
    args.paths = args.paths or [args.config]  # -c alone: the config's own rules
    errors: list[ConfigError] = []
    rule_paths: list[str] = []
    silence_paths: list[str] = []
    n_rules = 0
    notifiers = None
    checked: list = []  # rules loaded, checked against the store when a config names one
    configs: list[str] = []
    try:
        if args.config:
            notifiers = set(load_notifiers(load(args.config)))
        for path in args.paths:
            if path.endswith((".yaml", ".yml")) and _is_config(path):
                cfg = load_rules_config(load(path))
                errors += cfg.errors
                n_rules += len(cfg.rules)
                checked += cfg.rules
                configs.append(path)
            elif path.endswith((".yaml", ".yml")) and _top_key(path) == "silences":
                silence_paths.append(path)
            else:
                rule_paths.append(path)
    except ConfigError as exc:
        errors.append(exc)
    loaded = load_rules(rule_paths, notifiers)
    errors += loaded.errors
    n_rules += len(loaded.rules)
    checked += loaded.rules
    if silence_paths:  # rule matchers checked against the rule files given beside them
        errors += load_silences(silence_paths,
                                [r.name for r in loaded.rules] if rule_paths else None).errors
    store_config = args.config or next((p for p in args.paths if p in configs), None)
    if store_config and checked:  # the rules that loaded, beside the others' errors
        refused = _check_on_store(store_config, checked)
        n_rules -= len({e.key for e in refused})  # each names its rule: no longer valid
        errors += refused
    for exc in errors:
        print(exc, file=sys.stderr)
    print(f"{n_rules} rules valid, {len(errors)} error(s)")
    return 1 if errors else 0


def _check_on_store(config_path: str, rules: list) -> list[ConfigError]:
    """Raw query rules against the config's store (``rules.sources``); a store that does not
    answer leaves the shape checks, and says so."""
    from collector.config import load_config
    from collector.store.base import StoreError
    from rules.sources import check_sources

    if not any(r.type == "query" for r in rules):
        return []
    try:
        store = load_config(config_path).open_store()
    except (ConfigError, StoreError) as exc:
        print(f"midwatch rules validate: store not checked ({exc}); query rules checked by "
              "shape only", file=sys.stderr)
        return []
    try:
        errors, reached = check_sources(rules, store)
    finally:
        store.close()
    if not reached:
        print("midwatch rules validate: the store did not answer; query rules checked by "
              "shape only", file=sys.stderr)
    return errors


def _is_config(path: str) -> bool:
    """A config file has a ``rules:`` mapping (paths, interval); a rule file a list."""
    from collector.yamlconf import load

    try:
        return isinstance(load(path).data.get("rules"), dict)
    except (ConfigError, AttributeError):
        return False


def _top_key(path: str) -> str | None:
    """``silences`` for a silence file (its only key), else None."""
    from collector.yamlconf import load

    try:
        data = load(path).data
    except ConfigError:
        return None
    return "silences" if isinstance(data, dict) and "silences" in data else None


def test(args: argparse.Namespace) -> int:
    from rules.ruletests import run_file

    failed = 0
    for path in args.files:
        try:
            report = run_file(path)
        except ConfigError as exc:
            print(f"ERROR {exc}")
            failed += 1
            continue
        if report.ok:
            print(f"PASS  {path} ({report.evaluations} evaluations)")
        else:
            failed += 1
            print(f"FAIL  {path}")
            for text in report.failures:
                print(safe(text))
    print(f"{len(args.files) - failed} passed, {failed} failed")
    return 1 if failed else 0


# ------------------------------------------------------------------ config + store commands

def _open(args: argparse.Namespace, *, sending: bool = False):
    """(rules config, store) from ``-c``; ConfigError for anything wrong with either.
    ``sending``: notifier secrets must resolve (only what sends needs them)."""
    from collector.config import load_config
    from collector.store.base import StoreError
    from rules.config import load_rules_config
    from rules.sources import check_sources

    config = load_config(args.config)
    rules_config = load_rules_config(config.doc, sending=sending)
    if rules_config.errors:
        raise rules_config.errors[0]
    store = config.open_store()
    try:
        store.setup()
    except StoreError as exc:
        store.close()
        raise ConfigError(config.file, None, "store", f"store not usable: {exc}") from None
    errors, _ = check_sources(rules_config.rules, store)
    if errors:
        store.close()
        raise errors[0]
    return rules_config, store


def _parse_at(text: str) -> int:
    """``now``, epoch ms, a duration ago (``24h``: so examples work on any day's data) or
    ISO-8601."""
    from collector.yamlconf import parse_duration_ms
    from rules.ruletests import to_ms

    if text == "now":
        return _now_ms()
    if text.isdigit():
        return to_ms(int(text))
    try:
        return _now_ms() - parse_duration_ms(text)
    except ValueError:
        return to_ms(text)


def evaluate(args: argparse.Namespace) -> int:
    from collector.store.base import StoreUnavailable
    from rules.engine import Engine, with_examples

    try:
        at = _parse_at(args.at)
    except ValueError:
        return _fail("rules eval", f"--at: expected ISO-8601, epoch ms, now or a duration ago (24h); got {args.at!r}")
    try:
        rules_config, store = _open(args)
    except ConfigError as exc:
        return _fail("rules eval", exc)
    try:
        engine = Engine(rules_config, store, persist=False)
        outcome = engine.evaluate(at)
        alerts = with_examples(engine, outcome, at)
    except StoreUnavailable as exc:  # no rule at fault: the store did not answer
        return _fail("rules eval", exc)
    finally:
        store.close()
    by_name = {r.name: r for r in rules_config.rules}
    for alert in alerts:
        doc = {"rule": alert.rule, "labels": alert.labels, "state": alert.state,
               "value": alert.value, "summary": alert.annotations.get("summary", ""),
               "severity": alert.severity, "dedup_key": alert.key,
               "notify": list(rules_config.notifiers_of(by_name[alert.rule]))}
        if args.json:
            print(json.dumps(doc, sort_keys=True))
        else:
            labels = ", ".join(f"{k}={v}" for k, v in sorted(alert.labels.items()))
            print(f"{alert.state:<8} {safe(alert.rule)} {{{safe(labels)}}} value={alert.value} "
                  f"-> {', '.join(doc['notify']) or 'no notifier'}"
                  + (f"\n         {safe(doc['summary'])}" if doc["summary"] else ""))
    for name, reason in outcome.failed_rules.items():
        print(f"midwatch rules eval: rule {name} not evaluated: {safe(reason)}",
              file=sys.stderr)
    return 1 if outcome.failed_rules else 0


def backfill(args: argparse.Namespace) -> int:
    from collector.store.base import StoreError
    from collector.yamlconf import parse_duration_ms
    from rules.backfill import backfill as replay
    from rules.backfill import render

    try:
        start, end = _parse_at(args.start), _parse_at(args.end)
    except ValueError:
        return _fail("rules backfill", f"--from/--to: expected ISO-8601, epoch ms, now or a duration ago (24h); got "
                     f"{args.start!r} / {args.end!r}")
    try:
        step = parse_duration_ms(args.step)
    except ValueError as exc:
        return _fail("rules backfill", f"--step: {exc}")
    names = [n.strip() for n in args.rules.split(",") if n.strip()] if args.rules else None
    try:
        rules_config, store = _open(args)
    except ConfigError as exc:
        return _fail("rules backfill", exc)
    try:
        report = replay(rules_config, store, start, end, step, names)
    except KeyError as exc:
        return _fail("rules backfill", f"--rules: no rule named {exc.args[0]}", 1)
    except (ValueError, StoreError) as exc:
        return _fail("rules backfill", exc)
    finally:
        store.close()
    print(json.dumps(report.to_doc(), sort_keys=True) if args.json else render(report))
    return 1 if any(s.failed for s in report.summary.values()) else 0


def run(args: argparse.Namespace) -> int:
    from collector.config import config_path
    from collector.logsetup import setup_logging
    from rules.scheduler import RuleScheduler, reloading

    setup_logging(args.log_level)
    try:
        rules_config, store = _open(args, sending=True)
    except ConfigError as exc:
        return _fail("rules run", exc)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    scheduler = RuleScheduler(rules_config, store, reload=reloading(config_path(args.config)))
    scheduler.start()
    print(f"midwatch rules: {len(scheduler.engine.rules)} rules every "
          f"{rules_config.interval_ms // 1000}s", file=sys.stderr)
    done.wait()
    scheduler.stop()
    store.close()
    return 0


def explain(args: argparse.Namespace) -> int:
    from collector.store.base import StoreError
    from rules.explain import explain as explain_rule
    from rules.explain import parse_labels, render

    try:
        at = _parse_at(args.at)
        labels = parse_labels(args.labels)
    except ValueError as exc:
        return _fail("rules explain", f"{exc}" if args.labels else
                     f"--at: expected ISO-8601, epoch ms, now or a duration ago (24h); got {args.at!r}")
    try:
        rules_config, store = _open(args)
    except ConfigError as exc:
        return _fail("rules explain", exc)
    try:
        doc = explain_rule(rules_config, store, args.rule, at, labels)
    except KeyError as exc:
        return _fail("rules explain", f"no rule {args.rule!r}: {exc.args[0]}", 1)
    except ValueError as exc:  # --labels naming a label the rule's alerts never carry
        return _fail("rules explain", f"--labels: {exc}")
    except StoreError as exc:
        return _fail("rules explain", exc)
    finally:
        store.close()
    print(json.dumps(doc, sort_keys=True) if args.json else render(doc))
    return 0


def notify_test(args: argparse.Namespace) -> int:
    import socket

    from collector.config import load_config
    from collector.logsetup import mask_secrets
    from rules.config import load_notifiers, unset_secrets
    from rules.notify.base import Notification, SendError, Unconfirmed
    from rules.state import dedup_key

    try:
        notifiers = load_notifiers(load_config(args.config).doc)
        notifier = notifiers.get(args.notifier)
        if notifier is None:
            return _fail("notify test", f"no notifier {args.notifier!r} (configured: "
                         f"{', '.join(sorted(notifiers)) or 'none'})", 1)
        missing = unset_secrets({args.notifier: notifier})
        if missing:
            raise missing[0]
    except ConfigError as exc:
        return _fail("notify test", exc)
    now = _now_ms()
    labels = {"test": "true", "host": socket.gethostname()}
    summary = (f"[TEST] midwatch notification test from {labels['host']}: "
               "no action needed, resolved right after")
    for action in ("firing", "resolved"):
        n = Notification(action=action, rule="midwatch-notify-test",
                         key=dedup_key("midwatch-notify-test", labels), severity="info",
                         labels=labels, annotations={"summary": summary}, value=None,
                         starts_ms=now, at_ms=_now_ms(), expires_ms=now + 300_000)
        try:
            answer = notifier.send(n)
        except SendError as exc:
            print(f"{args.notifier} {action}: FAILED: {exc}")
            return 1
        if isinstance(answer, Unconfirmed):
            print(f"{args.notifier} {action}: accepted, unconfirmed: {mask_secrets(answer.why)}")
            continue
        text = (answer or b"").decode("utf-8", "replace").strip()[:500]
        print(f"{args.notifier} {action}: delivered; answer: {mask_secrets(text) or '(empty)'}")
    return 0


def list_rules(args: argparse.Namespace) -> int:
    from rules.config import describe_notifier

    if args.types or args.notifiers:
        return _list_components(args)
    try:
        rules_config, store = _open(args)
    except ConfigError as exc:
        return _fail("rules list", exc)
    store.close()
    print("rules:")
    for r in rules_config.rules:
        notify = ", ".join(rules_config.notifiers_of(r)) or "-"
        state = "" if r.enabled else " (disabled)"
        print(f"  {r.name}{state}: {r.type}, {r.severity}, window {r.window_ms // 1000}s, "
              f"by [{', '.join(r.group_by)}] -> {notify}   ({r.origin})")
    print("notifiers:")
    for name, n in sorted(rules_config.notifiers.items()):
        print(f"  {name}: {json.dumps(describe_notifier(n), default=str)}")
    return 0


def _list_components(args: argparse.Namespace) -> int:
    """``rules list --types`` / ``--notifiers``: what can be configured and where it comes
    from (built-in, or the installed package whose entry point adds it); no config needed."""
    from rules import notify, types

    shown = [("rule types", types.REGISTRY)] if args.types else []
    shown += [("notifier types", notify.REGISTRY)] if args.notifiers else []
    for title, registry in shown:
        print(f"{title}:")
        for name, path in sorted(registry.paths().items()):
            print(f"  {name}: {registry.origin(name)} ({path})")
    return 0


# ------------------------------------------------------------------ silences

def _silences(args: argparse.Namespace):
    from collector.config import load_config
    from rules.silences import Silences

    config = load_config(args.config)
    store = config.open_store()
    store.setup()
    return Silences(store), store


def _coded_silences(args: argparse.Namespace) -> list:
    """The silences of the config's silence files (``rules.silences``); the ones that do not
    validate are left out here (``rules validate`` reports them)."""
    from collector.config import load_config
    from rules.config import load_rules_config

    return list(load_rules_config(load_config(args.config).doc).silences)


def _show_silence(s, now_ms: int) -> str:
    from collector.event import ms_to_iso

    if s.active(now_ms):
        state = "active"
    else:
        state = "pending" if s.starts_ms > now_ms or s.ends_ms > now_ms else "expired"
    when = f"every {s.schedule.text}" if s.schedule else f"until {ms_to_iso(s.ends_ms)}"
    matchers = ",".join(str(m) for m in s.matchers)
    return (f"{s.id}  {state:<7}  {safe(matchers)}  {when}  "
            f"by {safe(s.created_by)}: {safe(s.comment)}  ({safe(s.origin)})")


def silence_add(args: argparse.Namespace) -> int:
    from collector.store.base import StoreError
    from collector.yamlconf import parse_duration_ms
    from rules.silences import new_silence

    try:
        silence = new_silence(args.match, parse_duration_ms(args.duration), args.comment,
                              args.author or getpass.getuser(), _now_ms())
    except ValueError as exc:
        return _fail("silence add", exc, 1)
    try:
        book, store = _silences(args)
        try:
            book.add(silence)
        finally:
            store.close()
    except (ConfigError, StoreError) as exc:
        return _fail("silence add", exc)
    print(_show_silence(silence, _now_ms()))
    _warn_unknown_rules(args, silence)
    return 0


def _warn_unknown_rules(args: argparse.Namespace, silence) -> None:
    """A ``rule=`` matcher naming no rule of the config silences nothing: say so on stderr
    (with the closest name) but keep the silence, which may be for a rule about to ship.
    Silence files refuse the same mistake (``rules.silence_files``)."""
    from collector.config import load_config
    from collector.yamlconf import did_you_mean
    from rules.config import load_rules_config

    try:
        names = [r.name for r in load_rules_config(load_config(args.config).doc).rules]
    except ConfigError:
        return  # the store answered; rule files that do not load are rules validate's job
    for m in silence.matchers:
        if m.name == "rule" and m.op == "=" and m.value not in names:
            hint = did_you_mean(m.value, names)
            print(f"midwatch silence add: warning: no rule named {m.value!r} in this config"
                  f"{'; ' + hint if hint else ''}: the silence matches nothing until one is",
                  file=sys.stderr)


def silence_list(args: argparse.Namespace) -> int:
    from collector.store.base import StoreError

    now = _now_ms()
    try:
        book, store = _silences(args)
        try:
            silences = book.all(now) + _coded_silences(args)
        finally:
            store.close()
    except (ConfigError, StoreError) as exc:
        return _fail("silence list", exc)
    for s in silences:
        print(_show_silence(s, now))
    if not silences:
        print("no silences")
    return 0


def silence_expire(args: argparse.Namespace) -> int:
    from collector.store.base import StoreError

    now = _now_ms()
    try:
        book, store = _silences(args)
        try:
            ended = book.expire(args.id, now)
        finally:
            store.close()
    except KeyError:
        coded = next((s for s in _coded_silences(args) if s.id == args.id), None)
        if coded is not None:
            return _fail("silence expire", f"silence {args.id} is defined in {coded.origin}: "
                         "remove it there (the change is picked up without a restart)", 1)
        return _fail("silence expire", f"no silence with ID {args.id}", 1)
    except (ConfigError, StoreError) as exc:
        return _fail("silence expire", exc)
    print(_show_silence(ended, now))
    return 0
