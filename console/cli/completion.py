"""``taskconsole completion bash|zsh``: a shell completion script, generated from the argument
parser itself (so it cannot drift from ``--help``), with the job ids completed where a command
takes one. zsh loads the bash function through ``bashcompinit``."""

from __future__ import annotations

import argparse

from console.settings import JOB_IDS


def _tree(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> dict[tuple[str, ...], dict]:
    """Command path -> {"words": subcommands and options, "jobs": whether it takes a job id}."""
    words, jobs, found = [], False, {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                words.append(name)
                found.update(_tree(sub, (*path, name)))
        elif action.option_strings:
            words += [o for o in action.option_strings if o.startswith("--")]
        elif action.dest == "job_id":
            jobs = True
    found[path] = {"words": words, "jobs": jobs}
    return found


def bash_script(parser: argparse.ArgumentParser) -> str:
    tree = _tree(parser)
    cases = []
    for path, node in sorted(tree.items(), key=lambda item: -len(item[0])):
        words = " ".join(node["words"] + (list(JOB_IDS) if node["jobs"] else []))
        cases.append(f'        "{" ".join(path)}") words="{words}" ;;')
    paths = " ".join(f'"{" ".join(p)}"' for p in sorted(tree, key=len, reverse=True) if p)
    return f'''# taskconsole completion for bash (and zsh through bashcompinit); made by `taskconsole completion`.
_taskconsole() {{
    local cur path word known
    cur="${{COMP_WORDS[COMP_CWORD]}}"
    path=""
    # The longest command path among the words typed so far, options left aside.
    for word in "${{COMP_WORDS[@]:1:COMP_CWORD-1}}"; do
        [[ "$word" == -* ]] && continue
        for known in {paths}; do
            if [[ "${{path:+$path }}$word" == "$known" ]]; then path="$known"; break; fi
        done
    done
    local words=""
    case "$path" in
{chr(10).join(cases)}
    esac
    COMPREPLY=($(compgen -W "$words" -- "$cur"))
}}
complete -F _taskconsole taskconsole
'''


def zsh_script(parser: argparse.ArgumentParser) -> str:
    return ("# taskconsole completion for zsh; made by `taskconsole completion zsh`.\n"
            "autoload -U +X bashcompinit && bashcompinit\n" + bash_script(parser))


def cmd_completion(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    print(bash_script(parser) if args.shell == "bash" else zsh_script(parser), end="")
    return 0
