/*
 * Test stand-in for the Entra sign-in extension's NSS module (AADSSHLoginForLinux resolves Entra users through its
 * own NSS module from /etc/aadpasswd, not /etc/passwd: shared/reference/real-world-behaviour.md section 1). Test code
 * only: compiled at test time and loaded only on the login test host (its private /etc/nsswitch.conf, ld.so.cache).
 *
 * Records: /etc/aadpasswd, one line each, upn:objectId:uid:gid:gecos:home:shell (section 1's format).
 * getpwnam(name) by root for a holder of the login role (ROLES: "<UPN as the directory spells it> <objectId>
 * [admin] [uid=N]") with no record yet creates one, as the extension does at the first sign-in: UID picked on this VM
 * (UID_BASE, a number in the millions chosen per host, counting up; or uid=N to stage a collision), gid = uid, gecos
 * = the local part, home /home/<local part> (/home/<local part>_1, _2... when taken), shell /bin/bash. Admins get the
 * groups aad_admins and admin (initgroups). The role check is case-insensitive (Entra's UPNs are).
 *
 * Switches (SWITCHES, "key=0|1" lines) for what nobody has verified about the real module:
 *   case_insensitive  1: a UPN typed in another case matches the record and NSS returns the record's (directory's)
 *                        spelling; 0: only the exact spelling matches, and a first sign-in under another spelling
 *                        creates a second record (the typed spelling, a new UID).
 *   keep_uid          1: a record present in /etc/aadpasswd before this VM's first sign-in of the user (restored by
 *                        an admin tool) is used as it is; 0: the extension replaces its UID at that first sign-in.
 *                        Either way a record edited after the first sign-in is used as it is.
 *   create_home       1: the home is created (from /etc/skel, owned by the user, 0700) at the first sign-in; 0: not.
 * SEEN lists the UPNs whose first sign-in on this VM the extension has handled (its own per-VM memory).
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <nss.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define AADPASSWD "/etc/aadpasswd"
#define ROLES "/etc/entra-standin/role-holders"
#define SWITCHES "/etc/entra-standin/switches"
#define SEEN "/etc/entra-standin/seen"
#define UIDBASE "/etc/entra-standin/uid-base"
#define LOCKF "/etc/entra-standin/lock"

struct rec {
    char upn[256], oid[80], gecos[256], home[512], shell[128];
    unsigned long uid, gid;
};

static int sw(const char *key, int dflt)
{
    FILE *f = fopen(SWITCHES, "re");
    char line[128];
    size_t n = strlen(key);
    int v = dflt;
    if (!f) return dflt;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, key, n) == 0 && line[n] == '=') v = atoi(line + n + 1);
    fclose(f);
    return v;
}

static int parse(char *line, struct rec *r)
{
    char *f[7];
    int i;
    line[strcspn(line, "\n")] = 0;
    for (i = 0; i < 7; i++) {
        f[i] = line;
        if (i < 6) {
            char *c = strchr(line, ':');
            if (!c) return 0;
            *c = 0;
            line = c + 1;
        }
    }
    snprintf(r->upn, sizeof r->upn, "%s", f[0]);
    snprintf(r->oid, sizeof r->oid, "%s", f[1]);
    r->uid = strtoul(f[2], NULL, 10);
    r->gid = strtoul(f[3], NULL, 10);
    snprintf(r->gecos, sizeof r->gecos, "%s", f[4]);
    snprintf(r->home, sizeof r->home, "%s", f[5]);
    snprintf(r->shell, sizeof r->shell, "%s", f[6]);
    return 1;
}

/* By name (exact, or case-insensitive when ci), else by uid when name is NULL. */
static int find(const char *name, unsigned long uid, int ci, struct rec *out)
{
    FILE *f = fopen(AADPASSWD, "re");
    char line[1400];
    struct rec r;
    int found = 0;
    if (!f) return 0;
    while (!found && fgets(line, sizeof line, f)) {
        if (!parse(line, &r)) continue;
        if (name ? (ci ? strcasecmp(r.upn, name) == 0 : strcmp(r.upn, name) == 0) : r.uid == uid) {
            *out = r;
            found = 1;
        }
    }
    fclose(f);
    return found;
}

/* A role holder (case-insensitive): directory spelling, objectId, admin flag, staged UID. */
static int role(const char *name, char *upn, size_t ulen, char *oid, size_t olen, int *admin, unsigned long *want)
{
    FILE *f = fopen(ROLES, "re");
    char line[600], u[256], o[80], a[32], b[32];
    int found = 0;
    if (!f) return 0;
    while (!found && fgets(line, sizeof line, f)) {
        a[0] = b[0] = 0;
        if (sscanf(line, "%255s %79s %31s %31s", u, o, a, b) < 2 || strcasecmp(u, name) != 0) continue;
        snprintf(upn, ulen, "%s", u);
        snprintf(oid, olen, "%s", o);
        *admin = strcmp(a, "admin") == 0 || strcmp(b, "admin") == 0;
        *want = strncmp(a, "uid=", 4) == 0 ? strtoul(a + 4, NULL, 10) : strncmp(b, "uid=", 4) == 0 ? strtoul(b + 4, NULL, 10) : 0;
        found = 1;
    }
    fclose(f);
    return found;
}

static int seen(const char *upn)
{
    FILE *f = fopen(SEEN, "re");
    char line[300];
    int found = 0;
    if (!f) return 0;
    while (!found && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        found = strcmp(line, upn) == 0;
    }
    fclose(f);
    return found;
}

static void mark_seen(const char *upn)
{
    FILE *f = fopen(SEEN, "ae");
    if (f) { fprintf(f, "%s\n", upn); fclose(f); }
}

static unsigned long next_uid(void)
{
    FILE *f = fopen(UIDBASE, "re");
    unsigned long base = 7000000, max, u = 0;
    char line[1400];
    struct rec r;
    if (f) { if (fscanf(f, "%lu", &u) == 1 && u > 0) base = u; fclose(f); }
    max = base - 1;
    f = fopen(AADPASSWD, "re");
    if (f) {
        while (fgets(line, sizeof line, f))
            if (parse(line, &r) && r.uid > max && r.uid < base + 1000000UL) max = r.uid;
        fclose(f);
    }
    return max + 1;
}

static int home_taken(const char *home)
{
    FILE *f = fopen(AADPASSWD, "re");
    char line[1400];
    struct rec r;
    int taken = 0;
    if (!f) return 0;
    while (!taken && fgets(line, sizeof line, f))
        if (parse(line, &r) && strcmp(r.home, home) == 0) taken = 1;
    fclose(f);
    return taken;
}

/* Rewrites /etc/aadpasswd with r replacing the line of r->upn (exact) or appended. */
static int store(const struct rec *r)
{
    FILE *in = fopen(AADPASSWD, "re"), *out;
    char line[1400], copy[1400], tmp[] = "/etc/.aadpasswd.standin.XXXXXX";
    struct rec x;
    int fd = mkstemp(tmp), done = 0;
    if (fd < 0) return -1;
    fchmod(fd, 0644);
    out = fdopen(fd, "w");
    if (in) {
        while (fgets(line, sizeof line, in)) {
            snprintf(copy, sizeof copy, "%s", line);
            if (parse(copy, &x) && strcmp(x.upn, r->upn) == 0) {
                if (!done) fprintf(out, "%s:%s:%lu:%lu:%s:%s:%s\n", r->upn, r->oid, r->uid, r->gid, r->gecos, r->home, r->shell);
                done = 1;
            } else fputs(line, out);
        }
        fclose(in);
    }
    if (!done) fprintf(out, "%s:%s:%lu:%lu:%s:%s:%s\n", r->upn, r->oid, r->uid, r->gid, r->gecos, r->home, r->shell);
    if (fclose(out) != 0) { unlink(tmp); return -1; }
    return rename(tmp, AADPASSWD);
}

static void make_home(const struct rec *r)
{
    char cmd[1400];
    if (access(r->home, F_OK) == 0) return;
    if (mkdir(r->home, 0700) != 0) return;
    snprintf(cmd, sizeof cmd, "cp -a /etc/skel/. '%s'/ 2>/dev/null; chown -R %lu:%lu '%s'", r->home, r->uid, r->gid, r->home);
    if (strchr(r->home, '\'') == NULL && system(cmd) != 0) { /* best effort, as a test stand-in */ }
    chmod(r->home, 0700);
}

static enum nss_status fill(struct passwd *pw, const struct rec *r, char *buf, size_t buflen, int *errnop)
{
    size_t need = strlen(r->upn) + 3 + strlen(r->gecos) + 1 + strlen(r->home) + 1 + strlen(r->shell) + 1;
    char *p = buf;
    if (need > buflen) { *errnop = ERANGE; return NSS_STATUS_TRYAGAIN; }
    pw->pw_name = p; p = stpcpy(p, r->upn) + 1;
    /* "*": no password and no shadow entry, so Debian's pam_unix account check passes (with "x" it would look for
       a shadow entry). How the real extension's users pass the account stack is its own business [unverified]. */
    pw->pw_passwd = p; p = stpcpy(p, "*") + 1;
    pw->pw_gecos = p; p = stpcpy(p, r->gecos) + 1;
    pw->pw_dir = p; p = stpcpy(p, r->home) + 1;
    pw->pw_shell = p; stpcpy(p, r->shell);
    pw->pw_uid = (uid_t)r->uid;
    pw->pw_gid = (gid_t)r->gid;
    return NSS_STATUS_SUCCESS;
}

enum nss_status _nss_entrastub_getpwnam_r(const char *name, struct passwd *pw, char *buf, size_t buflen, int *errnop)
{
    struct rec r;
    char upn[256], oid[80];
    int admin = 0, ci = sw("case_insensitive", 1), have;
    unsigned long want = 0;
    have = find(name, 0, ci, &r);
    if (geteuid() != 0 || !role(name, upn, sizeof upn, oid, sizeof oid, &admin, &want)) {
        return have ? fill(pw, &r, buf, buflen, errnop) : NSS_STATUS_NOTFOUND;
    }
    if (have && seen(r.upn)) return fill(pw, &r, buf, buflen, errnop);
    /* First sign-in of a role holder on this VM (under a lock, re-checking). */
    int fd = open(LOCKF, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) { *errnop = errno; return NSS_STATUS_UNAVAIL; }
    flock(fd, LOCK_EX);
    have = find(name, 0, ci, &r);
    if (have && !seen(r.upn)) {
        if (!sw("keep_uid", 1)) { r.uid = r.gid = want ? want : next_uid(); store(&r); }
        mark_seen(r.upn);
    } else if (!have) {
        memset(&r, 0, sizeof r);
        snprintf(r.upn, sizeof r.upn, "%s", ci ? upn : name);
        snprintf(r.oid, sizeof r.oid, "%s", oid);
        r.uid = r.gid = want ? want : next_uid();
        size_t local = strcspn(r.upn, "@");
        snprintf(r.gecos, sizeof r.gecos, "%.*s", (int)local, r.upn);
        snprintf(r.home, sizeof r.home, "/home/%.*s", (int)local, r.upn);
        for (int i = 1; home_taken(r.home); i++) snprintf(r.home, sizeof r.home, "/home/%.*s_%d", (int)local, r.upn, i);
        snprintf(r.shell, sizeof r.shell, "/bin/bash");
        if (store(&r) != 0) { flock(fd, LOCK_UN); close(fd); *errnop = EIO; return NSS_STATUS_UNAVAIL; }
        mark_seen(r.upn);
        if (sw("create_home", 0)) make_home(&r);
    }
    flock(fd, LOCK_UN);
    close(fd);
    return fill(pw, &r, buf, buflen, errnop);
}

enum nss_status _nss_entrastub_getpwuid_r(uid_t uid, struct passwd *pw, char *buf, size_t buflen, int *errnop)
{
    struct rec r;
    if (!find(NULL, uid, 0, &r)) return NSS_STATUS_NOTFOUND;
    return fill(pw, &r, buf, buflen, errnop);
}

/* gid of group `name` in /etc/group (the package's aad_admins/admin groups live there), or -1. */
static long etc_gid(const char *name)
{
    FILE *f = fopen("/etc/group", "re");
    char line[1024];
    size_t n = strlen(name);
    long gid = -1;
    if (!f) return -1;
    while (gid < 0 && fgets(line, sizeof line, f)) {
        if (strncmp(line, name, n) == 0 && line[n] == ':') {
            char *p = strchr(line + n + 1, ':');
            if (p) gid = strtol(p + 1, NULL, 10);
        }
    }
    fclose(f);
    return gid;
}

/* Admins are in aad_admins and admin (section 1: put there at each sign-in). */
enum nss_status _nss_entrastub_initgroups_dyn(const char *user, gid_t group, long *start, long *size, gid_t **groupsp,
    long limit, int *errnop)
{
    char upn[256], oid[80];
    int admin = 0;
    unsigned long want = 0;
    const char *names[] = { "aad_admins", "admin" };
    (void)group;
    if (!role(user, upn, sizeof upn, oid, sizeof oid, &admin, &want) || !admin) return NSS_STATUS_NOTFOUND;
    for (int i = 0; i < 2; i++) {
        long gid = etc_gid(names[i]);
        if (gid < 0) continue;
        if (*start == *size) {
            long nsize = *size * 2;
            if (limit > 0 && nsize > limit) nsize = limit;
            if (nsize <= *size) return NSS_STATUS_SUCCESS;
            gid_t *g = realloc(*groupsp, nsize * sizeof(gid_t));
            if (!g) { *errnop = ENOMEM; return NSS_STATUS_TRYAGAIN; }
            *groupsp = g;
            *size = nsize;
        }
        (*groupsp)[(*start)++] = (gid_t)gid;
    }
    return NSS_STATUS_SUCCESS;
}
