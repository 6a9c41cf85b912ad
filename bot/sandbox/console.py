"""The demo console: type `/pexip ...` lines, see what Slack would show, press buttons by number.

It is a Slack client, not a second implementation: each line becomes a signed slash command,
each number a signed button click, each form a signed view submission, all sent to the bot's
real HTTP endpoint; what the bot posts is read back from the Slack stand-in and rendered here.
"""

from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.text import Text

from bot.sandbox.demo import CHANNEL, USERS, DemoStack, DemoUser, find_user
from bot.sandbox.health_demo import WORDS as HEALTH_WORDS
from bot.sandbox.health_demo import HealthDemo
from bot.sandbox.simulator import SimulatorControl

QUIET = 0.6  # seconds without a new message before a command's results are complete
PATIENCE = 12.0  # most seconds to wait for the first result

Ask = Callable[[str], str | None]

CONSOLE_HELP = """\
Type what you would type in Slack, e.g. `/pexip conferences` (the `/pexip` is optional).
A number presses that button. `:as <name|role|id>` switches user, `:users` lists them,
`:guest <name>` makes a guest call into the locked Board_Room (a lobby card appears),
`:help` shows this, `:quit` (or Ctrl-D) leaves.
Node health: `:alarm <name>`, `:clear`, `:licence port 90`, `:maintenance 2 on|off`,
`:sync 3 SYNC_FAILED` change the simulated node and poll it as the clock does (alerts in #ops)."""


def mrkdwn(text: str, names: dict[str, str]) -> str:
    """Slack mrkdwn to rich markup: mentions as names, *bold*, entities decoded, emoji kept."""
    text = re.sub(r"<@(\w+)(?:\|[^>]*)?>", lambda m: "@" + names.get(m.group(1), m.group(1)), text)
    text = re.sub(r"<#(\w+)(?:\|([^>]*))?>", lambda m: "#" + (m.group(2) or m.group(1)), text)
    text = re.sub(r"<!date\^[^|>]*\|([^>]*)>", r"\1", text)  # Slack shows it in the reader's zone
    text = escape(text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&"))
    return re.sub(r"(?<![\w*])\*([^*\n]+)\*(?![\w*])", r"[bold]\1[/bold]", text)


@dataclass
class Session:
    stack: DemoStack
    console: Console
    ask: Ask
    user: DemoUser = USERS[0]
    buttons: list[tuple[dict[str, Any], str]] = field(default_factory=list)
    health: HealthDemo | None = None
    _seen: int = 0
    _views: int = 0

    @property
    def names(self) -> dict[str, str]:
        return {user.id: user.name for user in USERS}

    # --- the loop ------------------------------------------------------------------------

    def run(self) -> None:
        self.console.print(CONSOLE_HELP)
        self.console.print(f"You are {self.user.name} ({self.user.role}).")
        while (line := self.ask(f"[{self.user.name}] > ")) is not None:
            if not self.handle(line.strip()):
                break
        self._finish_follow_ups()

    def _finish_follow_ups(self) -> None:
        """Before leaving, show what a dialled call turned into, if it is still being watched."""
        deadline = time.monotonic() + 15
        while self.stack.following_up and time.monotonic() < deadline:
            time.sleep(0.1)
        self._show_new(patience=0.2)

    def handle(self, line: str) -> bool:
        """One input line; False to leave."""
        if not line:
            return True
        if line in (":quit", ":q", ":exit"):
            return False
        if line.startswith(":"):
            self._meta(line)
        elif line.isdigit():
            self._press(int(line))
        else:
            self._send(line.removeprefix("/pexip").strip())
        return True

    def _meta(self, line: str) -> None:
        word, _, rest = line.partition(" ")
        if word == ":as" and (user := find_user(rest)) is not None:
            self.user = user
            self.console.print(f"You are now {user.name} ({user.role}).")
        elif word in HEALTH_WORDS:
            problem = self._health().handle(word, rest)
            if problem:
                self.console.print(escape(problem))
            self._show_new(patience=2.0)
        elif word == ":guest":
            name = rest.strip().strip('"') or "Gail Guest"
            self.stack.guest_arrives(name)
            self.console.print(
                f"({name} calls board@example.com: Board_Room is locked)", style="dim"
            )
            self._show_new()
        elif word in (":users", ":as"):
            for user in USERS:
                self.console.print(f"  {user.id}  {user.name}  ({user.role})")
        else:
            self.console.print(CONSOLE_HELP)

    def _health(self) -> HealthDemo:
        if self.health is None:
            control = SimulatorControl(self.stack.simulator.url)
            self.health = HealthDemo(self.stack.settings(), control)
        return self.health

    # --- talking to the bot --------------------------------------------------------------

    @property
    def _requests(self) -> Any:
        assert self.stack.requests is not None
        return self.stack.requests

    def _send(self, text: str) -> None:
        response = self._requests.command(text, user=self.user.id, channel=CHANNEL)
        self._after(response.status_code)

    def _press(self, number: int) -> None:
        if not 1 <= number <= len(self.buttons):
            self.console.print(f"No button {number}.")
            return
        button, label = self.buttons[number - 1]
        if button.get("type") == "static_select":
            self._choose(button)
            return
        dialog = button.get("confirm")
        if dialog and not self._confirmed(dialog):
            self.console.print("Cancelled.")
            return
        self.console.print(f"(pressed {label})", style="dim")
        response = self._requests.click(button, user=self.user.id, channel=CHANNEL)
        self._after(response.status_code)

    def _choose(self, menu: dict[str, Any]) -> None:
        """A menu (the layouts): list its options, send the one picked."""
        options = menu.get("options", [])
        for index, option in enumerate(options, 1):
            self.console.print(f"  {index}. {option['text']['text']}", markup=False)
        answer = (self.ask("Which one? ") or "").strip()
        if not answer.isdigit() or not 1 <= int(answer) <= len(options):
            self.console.print("Cancelled.")
            return
        label = options[int(answer) - 1]["text"]["text"]
        self.console.print(f"(chose {label})", style="dim", markup=False)
        response = self._requests.choose(menu, label, user=self.user.id, channel=CHANNEL)
        self._after(response.status_code)

    def _confirmed(self, dialog: dict[str, Any]) -> bool:
        title = dialog.get("title", {}).get("text", "Are you sure?")
        question = dialog.get("text", {}).get("text", "")
        answer = self.ask(f"{title} {question} [y/N] ") or ""
        return answer.strip().lower() in ("y", "yes")

    def _after(self, status: int) -> None:
        if status != 200:
            self.console.print(f"The bot answered HTTP {status}.", style="red")
            return
        self._show_new()
        view = self._new_view()
        if view is not None:
            self._fill(view)

    # --- showing what Slack received ------------------------------------------------------

    def _show_new(self, patience: float = PATIENCE) -> None:
        """Render what Slack received since last time, until it has been quiet for a moment.

        Buttons are numbered from 1 in each batch that shows any."""
        state = self.stack.slack.state
        started = last_change = time.monotonic()
        first_in_batch = True
        while True:
            messages = state.messages()
            if len(messages) > self._seen:
                for message in messages[self._seen :]:
                    if first_in_batch and _has_buttons(message):
                        self.buttons = []
                        first_in_batch = False
                    self._render(message)
                self._seen = len(messages)
                last_change = time.monotonic()
            now = time.monotonic()
            if last_change > started and now - last_change > QUIET:
                return
            if now - started > patience or (self._views_opened() and now - last_change > QUIET):
                return
            time.sleep(0.05)

    def _render(self, message: Any) -> None:
        if message.delete_original:
            self.console.print("(the message with the buttons was removed)", style="dim")
            return
        where = {
            "update": "updated in #demo",
            "postEphemeral": "only you",
        }.get(message.kind, "only you" if message.ephemeral else "in #demo")
        if message.replace_original:
            where = (
                "refreshed (only you)"
                if message.ephemeral or message.kind == "response"
                else "refreshed"
            )
        if message.channel and message.channel != CHANNEL and not message.ephemeral:
            where = f"{'updated ' if message.kind == 'update' else ''}in #{message.channel}"
        body = self._body(message)
        self.console.print(Panel(body, title=where, title_align="left", expand=False))

    def _body(self, message: Any) -> Text:
        if not message.blocks:
            return Text.from_markup(mrkdwn(message.text, self.names), emoji=True)
        lines: list[str] = []
        for block in message.blocks:
            kind = block.get("type")
            if kind in ("section", "header"):
                lines.append(mrkdwn((block.get("text") or {}).get("text", ""), self.names))
                fields = block.get("fields") or []
                lines += [mrkdwn(field.get("text", ""), self.names) for field in fields]
            elif kind == "context":
                lines += [mrkdwn(e.get("text", ""), self.names) for e in block.get("elements", [])]
            elif kind == "actions":
                lines.append(
                    "   ".join(escape(self._number(e, block)) for e in block.get("elements", []))
                )
        return Text.from_markup("\n".join(line for line in lines if line), emoji=True)

    def _number(self, element: dict[str, Any], block: dict[str, Any]) -> str:
        label = element.get("text", {}).get("text", "?")
        if element.get("type") == "static_select":
            label = element.get("placeholder", {}).get("text", "Choose") + "…"
        self.buttons.append(({**element, "block_id": block.get("block_id", "")}, label))
        return f"[{len(self.buttons)}] {label}"

    # --- forms -----------------------------------------------------------------------------

    def _views_opened(self) -> bool:
        return len(self._view_calls()) > self._views

    def _view_calls(self) -> list[Any]:
        return [
            c for c in self.stack.slack.state.calls() if c.method in ("views.open", "views.update")
        ]

    def _new_view(self) -> dict[str, Any] | None:
        deadline = time.monotonic() + 3
        form = None
        while time.monotonic() < deadline:
            calls = self._view_calls()
            fresh = [_view_of(call.params) for call in calls[self._views :]]
            form = next((view for view in reversed(fresh) if view.get("callback_id")), None)
            if form is not None or not fresh:
                break
            time.sleep(0.05)
        self._views = len(self._view_calls())
        return form

    def _fill(self, view: dict[str, Any]) -> None:
        title = view.get("title", {}).get("text", "Form")
        self.console.print(
            Panel(f"{title}: answer each field (blank to skip optional ones)", expand=False)
        )
        values: dict[str, Any] = {}
        for block in view.get("blocks", []):
            if block.get("type") != "input":
                continue
            answer = self._field(view, block)
            if answer is not None:
                values[block["block_id"]] = answer
        response = self._requests.submit(view, values, user=self.user.id)
        if response.content and response.json().get("response_action") == "errors":
            for block, problem in response.json().get("errors", {}).items():
                self.console.print(f"{block}: {problem}", style="red")
            return
        self._after(response.status_code)

    def _field(self, view: dict[str, Any], block: dict[str, Any]) -> dict[str, Any] | None:
        label = block.get("label", {}).get("text", block["block_id"])
        element = block.get("element", {})
        choices = _choices(element)
        if element.get("type") == "external_select":
            reply = self._requests.suggest(view, element["action_id"], "", user=self.user.id)
            choices = [(o["text"]["text"], o["value"]) for o in reply.json().get("options", [])]
        if choices:
            listed = ", ".join(f"{n}) {text}" for n, (text, _) in enumerate(choices, 1))
            answer = (self.ask(f"{label} — {listed}: ") or "").strip()
            if answer.isdigit() and 1 <= int(answer) <= len(choices):
                text, value = choices[int(answer) - 1]
                return {
                    "selected_option": {
                        "text": {"type": "plain_text", "text": text},
                        "value": value,
                    }
                }
            return None
        answer = (self.ask(f"{label}: ") or "").strip()
        return {"value": answer} if answer else None


def _has_buttons(message: Any) -> bool:
    return any(block.get("type") == "actions" for block in message.blocks or [])


def _choices(element: dict[str, Any]) -> list[tuple[str, str]]:
    return [(o["text"]["text"], o["value"]) for o in element.get("options", [])]


def _view_of(params: dict[str, Any]) -> dict[str, Any]:
    view = params.get("view", {})
    if isinstance(view, str):
        view = json.loads(view)
    return view if isinstance(view, dict) else {}


def _terminal_ask(console: Console) -> Ask:
    def ask(prompt: str) -> str | None:
        try:
            return console.input(escape(prompt))
        except EOFError:
            return None

    return ask


def _scripted_ask(console: Console) -> Ask:
    """stdin is not a terminal: one line per answer, echoed so the transcript reads well."""

    def ask(prompt: str) -> str | None:
        line = sys.stdin.readline()
        if not line:
            return None
        console.print(Text(f"{prompt}{line.rstrip()}", style="bold"))
        return line.rstrip("\n")

    return ask


def run_demo(as_user: str | None = None) -> int:
    console = Console(highlight=False)
    user = find_user(as_user) if as_user else USERS[0]
    if user is None:
        console.print(
            f"Unknown demo user {as_user!r}; choose one of: " + ", ".join(u.role for u in USERS)
        )
        return 2
    interactive = sys.stdin.isatty()
    console.print("Starting the Pexip simulator, a Slack stand-in and pexbot…", style="dim")
    with DemoStack() as stack:
        ask = _terminal_ask(console) if interactive else _scripted_ask(console)
        Session(stack, console, ask, user).run()
    return 0
