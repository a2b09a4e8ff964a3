"""`aforo catalog validate` and `aforo price quote|simulate`: thin layers over
`aforo.catalog` and `aforo.pricing`."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, BinaryIO

import click
import yaml

from aforo.catalog import Catalog, CatalogError, load_catalog
from aforo.catalog.preview import InvoicePreview, preview_invoice
from aforo.catalog.yamlio import load_yaml
from aforo.pricing import (
    Price,
    PriceError,
    Rating,
    as_quantity,
    format_decimal,
    parse_price,
    rate,
    rate_increment,
    rate_values,
)

# ---------------------------------------------------------------- catalog


@click.group()
def catalog() -> None:
    """Pricing as code: the metrics, plans and customers in the catalog folder."""


@catalog.command()
@click.argument("directory", required=False, type=click.Path(path_type=Path))
@click.pass_obj
def validate(obj, directory: Path | None) -> None:  # type: ignore[no-untyped-def]
    """Check every file of the catalog (default: the settings' catalog_dir).

    Exit 0 with a summary, or print every problem (file: path: message) and exit 1.
    """
    root = directory if directory is not None else obj.get().catalog_dir
    try:
        loaded = load_catalog(root)
    except CatalogError as exc:
        for line in exc.errors:
            click.echo(line)
        count = len(exc.errors)
        click.echo(f"{count} problem{'s' if count != 1 else ''} in catalog {root}", err=True)
        sys.exit(1)
    click.echo(_summary(loaded))


def _summary(cat: Catalog) -> str:
    versions = sum(len(p.versions) for p in cat.plans.values())
    return (
        f"catalog {cat.root}: ok\n"
        f"  metrics:   {len(cat.metrics)} ({', '.join(cat.metrics)})\n"
        f"  plans:     {len(cat.plans)} ({', '.join(cat.plans)}; {versions} versions)\n"
        f"  customers: {len(cat.customers)} ({', '.join(cat.customers)})\n"
        f"  revision:  {cat.revision}"
    )


# ---------------------------------------------------------------- price


@click.group()
def price() -> None:
    """Rate prices exactly: quote one, answer a stream of quotes, simulate an invoice."""


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object whose keys are unique: `{"unit_amount": 1, "unit_amount": 2}` is an error,
    as in the catalog's YAML, not the last value silently."""
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise ValueError(f"duplicate key {key!r}")
        seen[key] = value
    return seen


def _load_price(text: str) -> Price:
    """A price from JSON text, or from a YAML/JSON file written `@path`."""
    try:
        if text.startswith("@"):
            obj = load_yaml(Path(text[1:]).read_text(encoding="utf-8"))
        else:
            obj = json.loads(text, parse_float=Decimal, parse_int=Decimal, object_pairs_hook=_unique_keys)
    except OSError as exc:
        raise click.BadParameter(f"cannot read {text[1:]}: {exc.strerror}",
                                 param_hint="--price") from None
    except (ValueError, yaml.YAMLError) as exc:
        raise click.BadParameter(f"not valid JSON/YAML: {exc}", param_hint="--price") from None
    try:
        return parse_price(obj)
    except PriceError as exc:
        raise click.BadParameter("\n".join(exc.errors), param_hint="--price") from None


def _number(text: str, name: str, option: str) -> Decimal:
    try:
        return as_quantity(text.strip(), name)
    except PriceError as exc:
        raise click.BadParameter(str(exc), param_hint=option) from None


@price.command()
@click.option("--price", "price_text", metavar="PRICE",
              help="A price as JSON (the format of docs/pricing.md), or @file.yaml.")
@click.option("--quantity", metavar="Q", help="The period's raw quantity.")
@click.option("--values", "values_text", metavar="V1,V2,...",
              help="Ordered transaction values, for a percentage price.")
@click.option("--before", metavar="C",
              help="Quote the increment F(C + Q) - F(C) instead (streaming form).")
@click.option("--explain", is_flag=True, help="Print the breakdown lines too.")
def quote(price_text: str | None, quantity: str | None, values_text: str | None,
          before: str | None, explain: bool) -> None:
    """Print the exact amount of PRICE for a quantity (or values).

    Without --quantity/--values, read JSON lines on stdin, each
    {"price": {...}, "quantity": "21"} or {"price": {...}, "values": ["10", "80"]}
    (optionally "before"; "price" may be left out when --price is given), and write
    one line per input, in order: {"amount": "..."} or {"error": "..."}.
    """
    default = _load_price(price_text) if price_text is not None else None
    if quantity is None and values_text is None:
        if before is not None or explain:
            raise click.UsageError("--before and --explain need --quantity or --values")
        serve_quotes(sys.stdin.buffer, sys.stdout.buffer, default)
        return
    if default is None:
        raise click.UsageError("--price is required with --quantity or --values")
    if quantity is not None and values_text is not None:
        raise click.UsageError("give --quantity or --values, not both")
    wanted = "--values" if default.model.rates == "values" else "--quantity"
    if (wanted == "--values") != (values_text is not None):
        raise click.UsageError(
            f"a {default.model_name} price rates "
            f"{'transaction values' if wanted == '--values' else 'a quantity'}: give {wanted}")
    if explain and before is not None:
        raise click.UsageError("--explain shows a whole rating: leave out --before")
    try:
        if quantity is not None:
            q = _number(quantity, "quantity", "--quantity")
            if before is not None:
                start = _number(before, "before", "--before")
                click.echo(format_decimal(rate_increment(default, start, q)))
                return
            rating = rate(default, q)
        else:
            if before is not None:
                raise click.UsageError("--before works with --quantity only")
            assert values_text is not None
            values = [_number(v, f"values[{i}]", "--values")
                      for i, v in enumerate(values_text.split(","))]
            rating = rate_values(default, values)
    except PriceError as exc:
        raise click.UsageError(str(exc)) from None
    click.echo(explain_rating(rating) if explain else format_decimal(rating.amount))


def explain_rating(rating: Rating) -> str:
    """The breakdown as a table: key, description, exact amount; then the total."""
    rows = [(line.key, line.description, format_decimal(line.amount)) for line in rating.lines]
    rows.append(("amount", "", format_decimal(rating.amount)))
    key_w = max(len(r[0]) for r in rows)
    desc_w = max(len(r[1]) for r in rows)
    amount_w = max(len(r[2]) for r in rows)
    return "\n".join(
        f"{key:<{key_w}}  {desc:<{desc_w}}  {amount:>{amount_w}}".rstrip()
        if desc else f"{key:<{key_w}}  {'':<{desc_w}}  {amount:>{amount_w}}"
        for key, desc, amount in rows
    )


# ---- JSON lines


class Quoter:
    """Answers one JSON line at a time.

    Parsed prices are cached by their JSON text, so a stream that repeats a price
    validates it once. A line that starts with the same `{"price": <text>` as the
    last one skips decoding the price altogether: only the rest is decoded.
    """

    _CACHE_LIMIT = 4096
    _FIELDS = frozenset({"price", "quantity", "values", "before"})
    _HEAD = re.compile(r'\s*\{\s*"price"\s*:\s*')

    def __init__(self, default: Price | None = None) -> None:
        self.default = default
        self._prices: dict[str, Price | PriceError] = {}
        self._decoder = json.JSONDecoder(parse_float=Decimal, parse_int=Decimal)
        self._head = ""
        self._head_price: Price | None = None

    def answer(self, line: bytes | str, number: int = 1) -> str:
        """The JSON answer line (no newline) for input line `number` (1-based)."""
        try:
            amount = self._amount(line)
        except PriceError as exc:
            return json.dumps({"error": f"line {number}: " + "; ".join(exc.errors)})
        return f'{{"amount": "{format_decimal(amount)}"}}'

    def _amount(self, line: bytes | str) -> Decimal:
        try:
            text = line.decode() if isinstance(line, bytes) else line
        except UnicodeDecodeError as exc:
            raise PriceError(f"not valid UTF-8: {exc}") from None
        if not text.strip():
            raise PriceError("empty line: expected a JSON object")
        fast = self._same_price_as_last(text)
        fields, price_ = fast if fast is not None else self._decode(text)
        unknown = fields.keys() - self._FIELDS
        if unknown:
            raise PriceError(f"{min(unknown)}: unknown field (allowed: before, price,"
                             " quantity, values)")
        if ("quantity" in fields) == ("values" in fields):
            raise PriceError("give quantity or values (one of them)")
        if "values" in fields:
            if "before" in fields:  # as --before with --values: the rating would ignore it
                raise PriceError("before: works with quantity only (values are rated whole)")
            values = fields["values"]
            if not isinstance(values, list):
                raise PriceError("values: must be a list of decimals")
            return rate_values(price_, values).amount
        if "before" in fields:
            return rate_increment(price_, fields["before"], fields["quantity"])
        return rate(price_, fields["quantity"]).amount

    def _same_price_as_last(self, text: str) -> tuple[dict[str, Any], Price] | None:
        """The fast path: the line's head is byte for byte the last price's head, so its
        price is that price (a JSON object is never a prefix of a longer value)."""
        if self._head_price is None or not text.startswith(self._head):
            return None
        rest = text[len(self._head):].lstrip()
        if rest.startswith(",") and not rest[1:].lstrip().startswith("}"):
            body = "{" + rest[1:]
        elif rest.startswith("}"):
            body = "{" + rest
        else:
            return None
        try:
            fields = self._decoder.decode(body)
        except ValueError:
            return None  # the slow path reports it, with positions in the whole line
        if not isinstance(fields, dict) or "price" in fields:
            return None
        return fields, self._head_price

    def _decode(self, text: str) -> tuple[dict[str, Any], Price]:
        try:
            fields = self._decoder.decode(text)
        except ValueError as exc:
            raise PriceError(f"not valid JSON: {exc}") from None
        if not isinstance(fields, dict):
            raise PriceError("must be a JSON object with price and quantity (or values)")
        if "price" not in fields:
            if self.default is None:
                raise PriceError("price: required")
            return fields, self.default
        head = self._HEAD.match(text)
        first, end = self._decoder.raw_decode(text, head.end()) if head else (None, 0)
        if head is None or first != fields["price"]:
            # price is not the first field (or is written twice): key the cache on its repr
            return fields, self._price(repr(fields["price"]), fields["price"])
        price_ = self._price(text[head.end():end], fields["price"])
        self._head, self._head_price = text[:end], price_
        return fields, price_

    def _price(self, key: str, raw: Any) -> Price:
        found = self._prices.get(key)
        if found is None:
            try:
                found = parse_price(raw)
            except PriceError as exc:
                found = exc
            if len(self._prices) >= self._CACHE_LIMIT:
                self._prices.clear()
            self._prices[key] = found
        if isinstance(found, PriceError):
            raise found
        return found


def serve_quotes(stdin: BinaryIO, stdout: BinaryIO, default: Price | None = None) -> int:
    """Answer every line of `stdin` on `stdout`, in order. Reads what is available,
    answers the complete lines and flushes, so it also works as a co-process."""
    quoter = Quoter(default)
    read = getattr(stdin, "read1", stdin.read)
    pending = b""
    count = 0
    while True:
        chunk = read(1 << 16)
        if not chunk:
            break
        pending += chunk
        *complete, pending = pending.split(b"\n")
        if complete:
            stdout.write(_answers(quoter, complete, count))
            stdout.flush()
            count += len(complete)
    if pending.strip():
        stdout.write(_answers(quoter, [pending], count))
        stdout.flush()
        count += 1
    return count


def _answers(quoter: Quoter, lines: list[bytes], before: int) -> bytes:
    return "".join(
        quoter.answer(line, number) + "\n" for number, line in enumerate(lines, before + 1)
    ).encode()


# ---- simulate


def _parse_usage(text: str, cat: Catalog) -> dict[str, Decimal | list[Decimal]]:
    usage: dict[str, Decimal | list[Decimal]] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        metric, sep, amount = item.partition("=")
        metric = metric.strip()
        if not sep or not metric:
            raise click.BadParameter(f"expected metric=quantity, got {item!r}", param_hint="--usage")
        if metric not in cat.metrics:
            known = ", ".join(cat.metrics)
            raise click.BadParameter(f"unknown metric {metric!r} (metrics: {known})",
                                     param_hint="--usage")
        if metric in usage:
            raise click.BadParameter(f"metric {metric!r} given twice", param_hint="--usage")
        parts = amount.split("+")
        numbers = [_number(p, f"{metric}[{i}]" if len(parts) > 1 else metric, "--usage")
                   for i, p in enumerate(parts)]
        usage[metric] = numbers if len(parts) > 1 else numbers[0]
    return usage


def _parse_at(text: str | None) -> datetime:
    if text is None:
        return datetime.now(UTC)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(f"not an ISO 8601 time: {text!r}", param_hint="--at") from None
    try:
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00:00+01:00 is before year 1 in UTC
        raise click.BadParameter(f"out of range in UTC: {text!r}", param_hint="--at") from None


@price.command()
@click.option("--plan", "plan_key", required=True, help="The plan key.")
@click.option("--usage", "usage_text", default="", metavar="METRIC=Q,...",
              help="Usage per metric; a percentage charge takes its transaction values"
                   " joined by + (payment_value=120+80.50).")
@click.option("--catalog", "catalog_dir", type=click.Path(path_type=Path), default=None,
              help="Catalog folder (default: the settings' catalog_dir).")
@click.option("--at", "at_text", default=None, metavar="ISO-TIME",
              help="Which plan version applies (default: now).")
@click.option("--json", "as_json", is_flag=True, help="Print the invoice as one JSON object.")
@click.pass_obj
def simulate(obj, plan_key: str, usage_text: str, catalog_dir: Path | None,  # type: ignore[no-untyped-def]
             at_text: str | None, as_json: bool) -> None:
    """Print the invoice a customer on PLAN would get for this usage: one line per
    charge, rounded once (half-up) from its exact amount, with its exact breakdown
    lines under it; the total is the sum of the rounded charge lines."""
    cat = load_catalog(catalog_dir if catalog_dir is not None else obj.get().catalog_dir)
    at = _parse_at(at_text)
    if plan_key not in cat.plans:
        raise click.BadParameter(f"no plan {plan_key!r} (plans: {', '.join(cat.plans)})",
                                 param_hint="--plan")
    try:
        charges = cat.plan_charges(plan_key, at)
    except LookupError as exc:
        raise click.BadParameter(str(exc.args[0]), param_hint="--at") from None
    usage = _parse_usage(usage_text, cat)
    try:
        preview = preview_invoice(charges, usage)
    except PriceError as exc:
        raise click.UsageError(str(exc)) from None
    head = {"plan": plan_key, "version": charges[0].plan_version if charges else None,
            "at": at.isoformat(), "catalog_revision": cat.revision}
    if as_json:
        click.echo(json.dumps(_preview_json(head, preview), indent=2))
    else:
        click.echo("\n".join(_preview_text(head, preview)))


def _preview_json(head: dict[str, Any], preview: InvoicePreview) -> dict[str, Any]:
    return {
        **head,
        "currency": preview.currency,
        "charges": [
            {
                "charge": cl.charge_key,
                "name": cl.name,
                "amount": format_decimal(cl.rating.amount),
                "rounded": f"{cl.rounded:f}",
                "lines": [
                    {
                        "key": line.key,
                        "description": line.description,
                        "quantity": format_decimal(line.quantity),
                        "unit_amount": format_decimal(line.unit_amount),
                        "amount": format_decimal(line.amount),
                    }
                    for line in cl.rating.lines
                ],
            }
            for cl in preview.charges
        ],
        "exact_total": format_decimal(preview.exact_total),
        "total": f"{preview.total:f}",
    }


def _preview_text(head: dict[str, Any], preview: InvoicePreview) -> Iterator[str]:
    yield (f"plan {head['plan']} v{head['version']} ({preview.currency}) at {head['at']},"
           f" catalog {head['catalog_revision']}")
    rows = [("charge", "line", "description", "exact", "rounded")]
    for cl in preview.charges:
        rows.append((cl.charge_key, "", cl.name, format_decimal(cl.rating.amount), f"{cl.rounded:f}"))
        rows += [("", line.key, line.description, format_decimal(line.amount), "")
                 for line in cl.rating.lines]
    rows.append(("total", "", "", format_decimal(preview.exact_total), f"{preview.total:f}"))
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    for row in rows:
        yield (f"{row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]:<{widths[2]}}  "
               f"{row[3]:>{widths[3]}}  {row[4]:>{widths[4]}}").rstrip()


commands = [catalog, price]
