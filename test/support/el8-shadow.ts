// Stand-ins for AlmaLinux 8's useradd and groupadd (shadow-utils 4.6 with Red Hat's goodname patch), installed in a
// test host's /usr/local/sbin (the host's own /usr/local overlay; first on the apply script's PATH). They behave as
// the sources say and delegate everything else to the machine's real (Debian) tools:
// - names: Fedora/RHEL shadow-4.5-goodname.patch (libmisc/chkname.c, carried as shadow-4.6-goodname.patch in EL8):
//   [a-zA-Z0-9_.][a-zA-Z0-9_.-]*[$]? ("$" only last), not "." or "..", not fully numeric; longer than 32 characters
//   is invalid (upstream is_valid_user_name: USER_NAME_MAX_LENGTH = sizeof(utmp.ut_user) = 32; groups: the patch's
//   own comment caps the regex at 32, and Fedora builds with --with-group-name-max-length=32 [not re-checked here]);
// - refusal: useradd "useradd: invalid user name 'NAME'", groupadd "groupadd: 'NAME' is not a valid group name",
//   both exit 3 (E_BAD_ARG; shadow 4.x src/groupadd.c check_new_name, src/useradd.c);
// - no --badname/--badnames (upstream added it after 4.6: shadow-maint/shadow #266, #522, #820): getopt_long's
//   "unrecognized option '--badname'", then usage on stderr, exit 2 (E_USAGE);
// - userdel/groupdel of 4.6 do not check the name syntax (they look the account up), so no stand-in is needed for
//   them; `strictRemoval` installs hypothetical ones that refuse like useradd, to test that revocation copes either way.
import { run, RunResult } from "./proc";

const VALIDATE = [
    "good() { # name: the goodname patch's rule and the 32-character limit",
    "    local n=$1",
    "    (( ${#n} <= 32 )) || return 1",
    "    [[ $n != . && $n != .. ]] || return 1",
    "    [[ $n =~ ^[a-zA-Z0-9_.][a-zA-Z0-9_.-]*[$]?$ ]] || return 1",
    "    [[ ! $n =~ ^[0-9]+$ ]]",
    "}",
];

// withBadname: the later behaviour (EL9's 4.9, upstream since 2019): --badname listed in --help (its help goes on
// after that line, as the real one's does; the pause before the rest stands for the writer being scheduled later, which
// makes a reader that stops at the match, such as `--help | grep -q` under pipefail, fail every time instead of under
// load only), skips the character
// rule but not the 32-character limit (shadow-maint/shadow issue 584: "The length check (< 32 characters) is still
// enforced"), and is not passed on to the real tool.
function standIn(tool: string, refusal: (name: string) => string, usage: string, withBadname = false): string {
    return [
        "#!/bin/bash",
        `# Test stand-in: AlmaLinux 8's ${tool} (shadow-utils 4.6 + goodname patch)${withBadname ? ", with a later release's --badname" : ""}; see test/support/el8-shadow.ts.`,
        ...VALIDATE,
        `usage() { echo "Usage: ${tool} ${usage}"; echo; echo "Options:"; ${withBadname ? "echo '      --badname                 do not check for bad names'; sleep 0.2;" : ""} echo "  -h, --help                    display this help message and exit"; }`,
        "badname=''",
        "args=()",
        "for a in \"$@\"; do",
        "    if [[ $a == -- ]]; then break; fi",
        withBadname
            ? "    case $a in --badname | --badnames) badname=1; shift; continue ;; -h | --help) usage; exit 0 ;; esac"
            : `    case $a in --badname | --badnames) echo "${tool}: unrecognized option '$a'" >&2; usage >&2; exit 2 ;; -h | --help) usage; exit 0 ;; esac`,
        "    args+=(\"$a\"); shift",
        "done",
        "set -- \"${args[@]}\" \"$@\"",
        "name=${!#}",
        "if [[ -n $badname ]]; then (( ${#name} <= 32 )) || { echo \"" + refusal("$name") + "\" >&2; exit 3; }",
        `elif ! good "$name"; then echo "${refusal("$name")}" >&2; exit 3; fi`,
        `exec /usr/sbin/${tool} "$@"`,
        "",
    ].join("\n");
}

export const EL8_USERADD = standIn("useradd", n => `useradd: invalid user name '${n}'`, "[options] LOGIN");
export const EL8_GROUPADD = standIn("groupadd", n => `groupadd: '${n}' is not a valid group name`, "[options] GROUP");
const STRICT_USERDEL = standIn("userdel", n => `userdel: invalid user name '${n}'`, "[options] LOGIN");
const STRICT_GROUPDEL = standIn("groupdel", n => `groupdel: '${n}' is not a valid group name`, "[options] GROUP");

/** Installs the stand-ins into /usr/local/sbin of a test host (hostArgv: argv that runs on that host). */
export function installEl8Shadow(hostArgv: (argv: string[]) => string[], opts: { strictRemoval?: boolean; withBadname?: boolean } = {}): void {
    const tools: Array<[string, string]> = opts.withBadname
        ? [["useradd", standIn("useradd", n => `useradd: invalid user name '${n}'`, "[options] LOGIN", true)],
            ["groupadd", standIn("groupadd", n => `groupadd: '${n}' is not a valid group name`, "[options] GROUP", true)]]
        : [["useradd", EL8_USERADD], ["groupadd", EL8_GROUPADD]];
    if (opts.strictRemoval) tools.push(["userdel", STRICT_USERDEL], ["groupdel", STRICT_GROUPDEL]);
    for (const [tool, text] of tools) {
        const r: RunResult = run(hostArgv(["bash", "-c", 'install -d -m 0755 /usr/local/sbin && cat > "$0" && chmod 0755 "$0"', `/usr/local/sbin/${tool}`]), { input: text });
        if (r.status !== 0) throw new Error(`installing the ${tool} stand-in failed: ${r.text}`);
    }
}

/** Removes every stand-in from the host's /usr/local/sbin. */
export function removeEl8Shadow(hostArgv: (argv: string[]) => string[]): void {
    run(hostArgv(["rm", "-f", "/usr/local/sbin/useradd", "/usr/local/sbin/groupadd", "/usr/local/sbin/userdel", "/usr/local/sbin/groupdel"]));
}
