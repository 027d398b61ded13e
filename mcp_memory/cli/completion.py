"""``memcycle completion bash|zsh|fish``: a shell completion script generated from the parser.

argparse has none built in, and ``shtab`` (the usual package) writes no fish scripts, so this
walks the subcommands once and writes a small table-driven script per shell: after
``memcycle`` it offers the commands, after a command its flags and its fixed words (``start``,
``stop``, ``status``; ``list``, ``pull``). Hidden flags (old spellings) are left out.
"""

from __future__ import annotations

import argparse

SHELLS = ("bash", "zsh", "fish")


def commands(parser: argparse.ArgumentParser) -> dict[str, tuple[str, list[str], list[str]]]:
    """Each command: its help, its visible flags, and the fixed words it takes next."""
    found: dict[str, tuple[str, list[str], list[str]]] = {"": ("", _flags(parser), [])}
    for action in parser._actions:
        if not isinstance(action, argparse._SubParsersAction):
            continue
        helps = {a.dest: a.help or "" for a in action._choices_actions}
        for name, sub in action.choices.items():
            words: list[str] = []
            for a in sub._actions:
                if isinstance(a, argparse._SubParsersAction):
                    words += list(a.choices)
                elif not a.option_strings and a.choices:
                    words += [str(c) for c in a.choices]
            found[name] = (helps.get(name, ""), _flags(sub), words)
    return found


def _flags(parser: argparse.ArgumentParser) -> list[str]:
    return [
        s
        for a in parser._actions
        if a.help != argparse.SUPPRESS
        for s in a.option_strings
        if s.startswith("--")
    ]


def script(parser: argparse.ArgumentParser, shell: str) -> str:
    table = commands(parser)
    prog = parser.prog
    if shell == "fish":
        return _fish(prog, table)
    bash = _bash(prog, table)
    if shell == "zsh":
        return "autoload -U +X bashcompinit && bashcompinit\n" + bash
    return bash


def _bash(prog: str, table: dict[str, tuple[str, list[str], list[str]]]) -> str:
    fn = "_" + prog.replace("-", "_")
    cases = "\n".join(
        f'        {name}) words="{" ".join(words + flags)}" ;;'
        for name, (_, flags, words) in table.items()
        if name
    )
    top = " ".join([n for n in table if n] + table[""][1])
    return f"""# {prog} completion for bash: eval "$({prog} completion bash)"
{fn}() {{
    local cur="${{COMP_WORDS[COMP_CWORD]}}" command="" i words
    for ((i = 1; i < COMP_CWORD; i++)); do
        case "${{COMP_WORDS[i]}}" in -*) ;; *) command="${{COMP_WORDS[i]}}"; break ;; esac
    done
    case "$command" in
        "") words="{top}" ;;
{cases}
        *) words="" ;;
    esac
    COMPREPLY=($(compgen -W "$words" -- "$cur"))
}}
complete -o default -F {fn} {prog}
"""


def _fish(prog: str, table: dict[str, tuple[str, list[str], list[str]]]) -> str:
    lines = [f"# {prog} completion for fish: {prog} completion fish | source"]
    for name, (help, flags, words) in table.items():
        if not name:
            lines += [f"complete -c {prog} -n __fish_use_subcommand -l {f[2:]}" for f in flags]
            continue
        text = help.replace("'", "\\'")
        lines.append(f"complete -c {prog} -f -n __fish_use_subcommand -a {name} -d '{text[:60]}'")
        seen = f"__fish_seen_subcommand_from {name}"
        lines += [f"complete -c {prog} -n '{seen}' -l {f[2:]}" for f in flags]
        lines += [f"complete -c {prog} -f -n '{seen}' -a {w}" for w in words]
    return "\n".join(lines) + "\n"
