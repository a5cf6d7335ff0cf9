"""The ``pufa`` command (see ``docs/cli.md`` in the shared docs and the README).

Configuration: flags, then environment variables (``PUFA_DB``, ``PUFA_MODELS``), then
defaults. Exit status 0 on success, 2 on bad usage or bad input (with a message naming the
problem), 1 on other failures and when ``import`` rejected rows (the others are imported), 141
when the reader of the output went away (``pufa items | head``). Long work shows a progress
bar on a terminal only.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from corpus.schema import ITEM_TYPES, STATUSES
from recommender.cli.common import UsageError, db_url, fail, positive_int
from recommender.cli.configs import cmd_config
from recommender.cli.content import cmd_build, cmd_classify, cmd_import, cmd_items, cmd_tokenize
from recommender.cli.coverage import cmd_coverage, per_group, request_size
from recommender.cli.serving import cmd_evaluate, cmd_recommend, cmd_serve
from recommender.vocab import DEFAULT_DB_URL, DEFAULT_MODELS_DIR, K_DEFAULT

__all__ = ["main"]


# --------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--db", help=f"database URL (env PUFA_DB, default {DEFAULT_DB_URL})")
    common.add_argument("--models", help=f"model directory (env PUFA_MODELS, default {DEFAULT_MODELS_DIR})")
    common.add_argument("--json", action="store_true", help="machine-readable JSON output")

    p = argparse.ArgumentParser(prog="pufa", description="Pufa (普法): targeted legal education engine.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("import", parents=[common], help="load content into the database",
                       description="Load law Markdown, plain-text regulations, guiding cases, JSON Lines "
                                   "or CSV of items. Idempotent; law versions are resolved.")
    s.add_argument("paths", nargs="+", metavar="PATH")
    s.add_argument("-v", "--verbose", action="store_true", help="list parse warnings")
    s.set_defaults(func=cmd_import)

    s = sub.add_parser("build", parents=[common], help="train and activate a new model version")
    s.add_argument("--config", metavar="FILE",
                   help="JSON file with a BuildConfig (index, classifier, answer, tagging, questions, evaluate ...) "
                        "and optionally a \"pipeline\" section (a full or partial PipelineConfig) saved with the "
                        "version; without it the version serves with the default pipeline config "
                        "(`pufa config validate --build FILE` checks a file)"),
    s.add_argument("--no-eval", action="store_true", help="skip the classifier's cross-validation")
    s.add_argument("--no-activate", action="store_true", help="write the version but do not activate it")
    s.add_argument("--questions", action="append", metavar="FILE",
                   help="questions labelled with the articles that answer them, to train the answer ranker "
                        "(repeatable; default: ../shared/queries/stard_dev.jsonl where present; 'none' for none)")
    s.set_defaults(func=cmd_build)

    s = sub.add_parser("classify", parents=[common], help="topics of a text, with the keywords that drove them")
    s.add_argument("text", nargs="?", metavar="TEXT")
    s.add_argument("--title")
    s.add_argument("--jsonl", metavar="FILE", help="one {id, text, title?} per line ('-' for stdin)")
    s.set_defaults(func=cmd_classify)

    s = sub.add_parser("tokenize", parents=[common], help="cut a text into tokens")
    s.add_argument("text", metavar="TEXT")
    s.add_argument("--raw", action="store_true", help="jieba's raw cut (punctuation and stop words kept)")
    s.add_argument("--backend", choices=["rjieba", "jieba"], default="rjieba")
    s.set_defaults(func=cmd_tokenize)

    s = sub.add_parser("items", parents=[common], help="list stored items")
    s.add_argument("--id", action="append", help="item id (repeatable)")
    s.add_argument("--law", help="short law title, e.g. 劳动合同法")
    s.add_argument("--type", choices=ITEM_TYPES)
    s.add_argument("--status", choices=STATUSES)
    size = s.add_mutually_exclusive_group()
    size.add_argument("--limit", type=positive_int, default=50, help="rows to print (default 50)")
    size.add_argument("--all", action="store_true", help="print every matching row")
    s.set_defaults(func=cmd_items)

    s = sub.add_parser("recommend", parents=[common], help="what POST /v1/recommendations returns",
                       description="Recommend for a person or a group. With --jsonl, each line is a "
                                   "request object (the API's body plus an 'id', optionally 'events' "
                                   "applied to that user first); each output line is {id, items}.")
    s.add_argument("--user", help="user id (unknown users are a cold start)")
    s.add_argument("--group", action="append", help="group id (repeatable)")
    s.add_argument("--query", help="what the person asks or searches")
    s.add_argument("--date", help="YYYY-MM-DD (campaigns are by date; default today)")
    s.add_argument("--region")
    s.add_argument("-k", type=int, default=K_DEFAULT)
    s.add_argument("--include-seen", action="store_true", help="do not exclude items the person has seen")
    s.add_argument("--not-personalized", action="store_true", help="use no personal data (PIPL art. 24)")
    s.add_argument("--jsonl", metavar="FILE", help="batch of requests, one JSON object per line ('-' = stdin)")
    s.set_defaults(func=cmd_recommend)

    s = sub.add_parser("evaluate", parents=[common], help="the offline evaluation report",
                       description="Engine and baselines on labelled real questions, simulated people, "
                                   "group conformance and the campaign check; with --feeds, every group's "
                                   "feed against the laws judged for it.")
    s.add_argument("--questions", help="labelled questions (default corpus/eval/real_questions_dev.jsonl); "
                                       "'stard' or a file of questions labelled with articles evaluates answers "
                                       "(recall@10/@100, nDCG@10, MRR@10, cross-validated)")
    s.add_argument("--shared", help="the shared folder with queries/real_questions.jsonl (default ../shared)")
    s.add_argument("--people", type=int, default=300, help="simulated people")
    s.add_argument("--config", metavar="FILE",
                   help="JSON file with a PipelineConfig to evaluate instead of the one saved with the model "
                        "version (which is the default); fields it leaves out take the defaults, not the version's"),
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--feeds", action="store_true",
                   help="instead: each group's anonymous top 30 against the laws judged for it "
                        "(corpus/eval/group_laws.yaml), with variety, campaign, duplicate and boilerplate counts")
    s.add_argument("--date", action="append", metavar="YYYY-MM-DD",
                   help="with --feeds: a day to measure (repeatable; default 2026-10-15, 2026-12-04, 2026-04-15)")
    s.add_argument("--show", action="append", metavar="GROUP",
                   help="with --feeds: also print this group's top 30 on each day (repeatable)")
    s.add_argument("--version", help="the model version to evaluate (default: the active one)")
    s.add_argument("--against", metavar="VERSION",
                   help="compare with another version ('ACTIVE' for the active one): every offline measure of "
                        "both on the test split, with 95%% bootstrap intervals and the paired difference")
    s.add_argument("--split", choices=["test", "dev", "all"], default="test",
                   help="which part of the fixed split of labelled questions to report "
                        "(corpus/eval/splits.json; default test)")
    s.add_argument("--seeds", type=int, default=3, help="simulated populations (seeds 0..N-1; default 3)")
    s.add_argument("--answers", action="store_true",
                   help="with --against: also the answers on stard_dev.jsonl (cross-validated; minutes)")
    s.set_defaults(func=cmd_evaluate)

    s = sub.add_parser("config", help="check, describe and show pipeline configs",
                       description="The pipeline config a model version serves with (saved in it).")
    actions = s.add_subparsers(dest="action", required=True, metavar="ACTION")
    a = actions.add_parser("validate", parents=[common], help="check a config file naming each bad field",
                           description="Check a PipelineConfig file (--build: a `pufa build --config` file); "
                                       "prints ok and the whole config, or each bad field (exit status 2).")
    a.add_argument("file", metavar="FILE", help="the file ('-' for stdin)")
    a.add_argument("--build", action="store_true", help="a build file (BuildConfig with an optional \"pipeline\")")
    a = actions.add_parser("schema", parents=[common], help="the JSON Schema of the pipeline config")
    a.add_argument("--build", action="store_true", help="the build file's instead")
    a = actions.add_parser("show", parents=[common], help="the config a model version serves with",
                           description="The pipeline config of the active model version, or of --version; "
                                       "stdout is JSON ready for --config.")
    a.add_argument("--version", help="the model version (default: the active one)")
    s.set_defaults(func=cmd_config)

    s = sub.add_parser("coverage", parents=[common], help="each group's share of pushes on its plan topics and "
                                                          "must-know list (GET /v1/stats/coverage)",
                       description="For a period (Beijing days, the end included; default the last 30 days), or "
                                   "for plan days replayed, each group's requests, pushes, share of pushes on its "
                                   "plan topics and on its must-know list, must-know items pushed and the titles "
                                   "pushed most. Requests made for a group without a person count.")
    s.add_argument("--start", metavar="YYYY-MM-DD", help="the first day (default: 30 days before --end)")
    s.add_argument("--end", metavar="YYYY-MM-DD", help="the last day, included (default: now)")
    s.add_argument("--group", help="one group (default: all)")
    s.add_argument("--replay-day", action="append", metavar="YYYY-MM-DD",
                   help="instead of a period: make each group's anonymous request for this plan day (logged in "
                        "the exposure log like any request) and report what was served (repeatable)")
    s.add_argument("--per-group", type=per_group, default=1, metavar="N",
                   help="with --replay-day: requests per group (default 1)")
    s.add_argument("-k", type=request_size, default=K_DEFAULT,
                   help=f"with --replay-day: items per request (default {K_DEFAULT})")
    s.set_defaults(func=cmd_coverage)

    s = sub.add_parser("serve", parents=[common], help="the HTTP API")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8000)
    s.add_argument("--workers", type=int, default=1)
    s.add_argument("--bootstrap", action="store_true",
                   help="on an empty database import the bundled sample content, and build a model if none is active")
    s.set_defaults(func=cmd_serve)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except UsageError as exc:
        fail(str(exc))
    except BrokenPipeError:
        # The reader went away (`pufa items | head`): stop quietly, as other tools do, and
        # keep Python from complaining again when it flushes stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except OSError as exc:
        # A folder that cannot be written or read (models, database file, input): one line.
        where = f"{exc.filename}: " if exc.filename else ""
        fail(f"{where}{exc.strerror or exc}", 1)
    except Exception as exc:
        from sqlalchemy.exc import SQLAlchemyError

        if isinstance(exc, SQLAlchemyError):
            from sqlalchemy.engine import make_url

            first = str(exc).strip().splitlines()[0][:300]
            try:
                shown = make_url(db_url(args)).render_as_string(hide_password=True)
            except Exception:
                shown = "(unparsable URL)"
            fail(f"database {shown}: {first}", 1)
        raise
    except KeyboardInterrupt:
        return 130

