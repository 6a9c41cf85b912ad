"""`pexbot demo` driven as a newcomer would script it: stdin is not a terminal, one line each."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

SCRIPT = """\
conferences
2
mute alice
2
:as viewer
mute Bob
:as admin
sync 99
end VMR_2
1
:as bea
1
"""


def run_demo(script: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", "demo", *args],
        input=script,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "COLUMNS": "200"},
    )


def test_scripted_session_shows_listings_buttons_denials_and_errors(tmp_path: Path) -> None:
    result = run_demo(SCRIPT, tmp_path)
    out = result.stdout
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in out + result.stderr
    # a listing with numbered buttons, only to the person who asked
    assert "only you" in out and "VMR_1 · 3 participants" in out
    assert "[2] Lock" in out
    # pressing button 2 locks VMR_1: said in the channel, the listing refreshed in place
    assert "@Ada Admin locked VMR_1" in out
    assert "refreshed" in out and "VMR_1 · 3 participants · locked" in out
    # an ambiguous name offers a choice; picking acts on the one chosen
    assert "2 participants match “alice”" in out
    assert "@Ada Admin muted Alice Cooper in VMR_2." in out
    # a denial is private and names the missing permission
    assert "Not allowed: you need the `mute` permission" in out
    # the node's refusal is said in the channel, in plain words
    assert "@Ada Admin tried to sync template 99, but it did not happen." in out
    # a confirmation before ending a conference, then a second admin's approval, then the outcome
    assert "End VMR_2 for 2 participants?" in out
    assert "@Ada Admin asks to end VMR_2" in out and "[1] Approve" in out
    assert "@Ada Admin ended VMR_2. (approved by @Bea Approver)" in out
    assert "Approved by @Bea Approver" in out  # the request, updated in place


def test_a_request_made_as_one_user_is_approved_as_another(tmp_path: Path) -> None:
    script = ":as max\nend VMR_1\n1\n1\n:as ada\n1\nlayout VMR_1 1:7\nconferences\n5\n2\n"
    result = run_demo(script, tmp_path)
    out = result.stdout
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in out + result.stderr
    assert "@Max Moderator asks to end VMR_1" in out
    assert "you asked for this yourself" in out  # Max's own Approve changes nothing
    assert "@Max Moderator ended VMR_1. (approved by @Ada Admin)" in out
    assert "@Ada Admin changed the layout of VMR_1 to 1:7" not in out  # VMR_1 has ended
    assert "[5] Layout…" in out and "1. 1:0 · Main speaker only" in out
    assert "@Ada Admin changed the layout of VMR_2 to 1:7." in out


def test_demo_can_start_as_another_user(tmp_path: Path) -> None:
    result = run_demo("whoami\n", tmp_path, "--as", "viewer")
    assert result.returncode == 0
    assert "You are Vic Viewer (viewer)" in result.stdout
    assert "viewer" in result.stdout and "conferences" in result.stdout


def test_unknown_demo_user_is_a_clear_error(tmp_path: Path) -> None:
    result = run_demo("", tmp_path, "--as", "nobody")
    assert result.returncode == 2
    assert "Unknown demo user 'nobody'" in result.stdout
    assert "Traceback" not in result.stderr


def test_backup_report_shows_its_fields(tmp_path: Path) -> None:
    result = run_demo("backup now\n", tmp_path)
    assert result.returncode == 0
    assert "@Ada Admin started a backup of the management node." in result.stdout
    assert "Backup requested by @Ada Admin succeeded" in result.stdout
    assert "Stored" in result.stdout and "management node" in result.stdout
    assert "<!date" not in result.stdout


def test_the_roster_shows_real_node_states_and_a_stream_gets_only_disconnect(
    tmp_path: Path,
) -> None:
    script = (
        "participants VMR_1\n"
        "participants VMR_2\n"
        "dial meet@example.com rtmp://live.example.com/app/key protocol=rtmp\n"
        "admit Bob\n"
        "mute rtmp\n"
    )
    result = run_demo(script, tmp_path)
    out = result.stdout
    assert result.returncode == 0, result.stderr
    assert "Bob Smith · guest · WebRTC · unmuted, no audio or video" in out
    assert "Carol Diaz · guest · H323 · muted themselves" in out
    assert "Dan Brown · chair · SIP · unmuted, on hold" in out
    assert "Bob Smith in VMR_1 is not waiting to be admitted: they are already in VMR_1" in out
    assert "cannot be muted: the management node says a stream or recording" in out


def test_node_health_alerts_appear_and_clear_in_the_ops_channel(tmp_path: Path) -> None:
    script = ":alarm Disk almost full\n:clear\n:licence port 90\n:maintenance 2 on\nstatus\n"
    result = run_demo(script, tmp_path)
    out = result.stdout
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in out + result.stderr
    assert "in #C0OPS0001" in out and "Alarm raised" in out and "Disk almost full" in out
    assert "updated in #C0OPS0001" in out and "Alarm cleared" in out
    assert "Call (port) licences at 90%" in out
    assert "pexconf-lon-1 (London) entered maintenance mode" in out
    assert "Pexip Infinity status" in out and "maintenance mode: maintenance from the demo" in out
    assert "Call (port) 90% (90 of 100)" in out


def test_a_guest_in_the_lobby_gets_a_card_admitted_by_number_and_the_roster_follows(
    tmp_path: Path,
) -> None:
    """Driven line by line, as a person reads the screen: the card's Admit number depends on
    how many buttons the roster above it shows."""
    demo = subprocess.Popen(
        [sys.executable, "-m", "bot", "demo"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "COLUMNS": "200"},
    )
    assert demo.stdin is not None and demo.stdout is not None
    try:
        demo.stdin.write(":guest Gail Guest\n")
        demo.stdin.flush()
        shown = ""
        card = "Gail Guest is waiting to join Board_Room."
        admit = re.compile(r"\[(\d+)\] Admit   \[\d+\] Disconnect")
        while (found := admit.search(shown.partition(card)[2])) is None:
            line = demo.stdout.readline()
            assert line, f"the demo ended before the card: {shown}"
            shown += line
        out, err = demo.communicate(f"{found.group(1)}\n", timeout=60)
    finally:
        demo.kill()
    assert demo.returncode == 0, err
    assert "@Ada Admin admitted Gail Guest in Board_Room." in out
    assert "Gail Guest was admitted to Board_Room by @Ada Admin." in out
    roster = out.rsplit("Board_Room: 3 participants", 1)[1]
    assert "Gail Guest · guest · WebRTC · unmuted " in roster
