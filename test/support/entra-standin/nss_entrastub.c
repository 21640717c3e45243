/*
 * Test stand-in for the Entra sign-in extension's NSS module (AADSSHLoginForLinux resolves Entra users through its
 * own NSS module, not /etc/passwd: shared/reference/real-world-behaviour.md section 1). Test code only: compiled at
 * test time and loaded only on the login test host (its private /etc/nsswitch.conf and /etc/ld.so.cache).
 *
 * getpwnam(name) by root for a name listed in ROLES (a holder of the login role) that has no account yet creates the
 * account, as the extension does at the first sign-in: UID above 2,000,000 chosen here (or the one ROLES names, to
 * stage collisions), GID = UID, home /home/<name> (not created), shell /bin/bash. Accounts stay in ACCOUNTS once
 * created (a role removed later does not remove the account; sign-in is refused by the key check instead).
 */
#include <errno.h>
#include <fcntl.h>
#include <nss.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#define ROLES "/etc/entra-standin/role-holders"
#define ACCOUNTS "/etc/entra-standin/accounts"
#define UID_BASE 2000001UL

/* Looks up "name uid" lines of file: by name when name != NULL, else by uid. */
static int lookup(const char *file, const char *name, unsigned long uid, char *out_name, size_t out_len, unsigned long *out_uid)
{
    FILE *f = fopen(file, "re");
    char n[256];
    unsigned long u;
    int found = 0;
    if (!f) return 0;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        int k = sscanf(line, "%255s %lu", n, &u);
        if (k < 1) continue;
        if (k < 2) u = 0;
        if ((name && strcmp(n, name) == 0) || (!name && k == 2 && u == uid)) {
            if (out_name) snprintf(out_name, out_len, "%s", n);
            if (out_uid) *out_uid = u;
            found = 1;
            break;
        }
    }
    fclose(f);
    return found;
}

static unsigned long next_uid(void)
{
    FILE *f = fopen(ACCOUNTS, "re");
    unsigned long max = UID_BASE - 1, u;
    char n[256], line[512];
    if (f) {
        while (fgets(line, sizeof line, f))
            if (sscanf(line, "%255s %lu", n, &u) == 2 && u > max && u < UID_BASE + 1000000UL) max = u;
        fclose(f);
    }
    return max + 1;
}

static enum nss_status fill(struct passwd *pw, const char *name, unsigned long uid, char *buf, size_t buflen, int *errnop)
{
    size_t need = strlen(name) + 1 + 2 + 1 + strlen("/home/") + strlen(name) + 1 + strlen("/bin/bash") + 1;
    if (need > buflen) { *errnop = ERANGE; return NSS_STATUS_TRYAGAIN; }
    char *p = buf;
    pw->pw_name = p; p = stpcpy(p, name) + 1;
    /* "*": no password and no shadow entry, so Debian's pam_unix account check passes (with "x" it would look for
       a shadow entry). How the real extension's users pass the account stack is its own business [unverified]. */
    pw->pw_passwd = p; p = stpcpy(p, "*") + 1;
    pw->pw_gecos = p; p = stpcpy(p, "") + 1;
    pw->pw_dir = p; p = stpcpy(stpcpy(p, "/home/"), name) + 1;
    pw->pw_shell = p; stpcpy(p, "/bin/bash");
    pw->pw_uid = (uid_t)uid;
    pw->pw_gid = (gid_t)uid;
    return NSS_STATUS_SUCCESS;
}

enum nss_status _nss_entrastub_getpwnam_r(const char *name, struct passwd *pw, char *buf, size_t buflen, int *errnop)
{
    unsigned long uid = 0, want = 0;
    if (lookup(ACCOUNTS, name, 0, NULL, 0, &uid)) return fill(pw, name, uid, buf, buflen, errnop);
    if (geteuid() != 0 || !lookup(ROLES, name, 0, NULL, 0, &want)) return NSS_STATUS_NOTFOUND;
    /* First sign-in of a role holder: create the account (under a lock, re-checking). */
    int fd = open(ACCOUNTS, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) { *errnop = errno; return NSS_STATUS_UNAVAIL; }
    flock(fd, LOCK_EX);
    if (!lookup(ACCOUNTS, name, 0, NULL, 0, &uid)) {
        uid = want ? want : next_uid();
        dprintf(fd, "%s %lu\n", name, uid);
    }
    flock(fd, LOCK_UN);
    close(fd);
    return fill(pw, name, uid, buf, buflen, errnop);
}

enum nss_status _nss_entrastub_getpwuid_r(uid_t uid, struct passwd *pw, char *buf, size_t buflen, int *errnop)
{
    char name[256];
    if (!lookup(ACCOUNTS, NULL, uid, name, sizeof name, NULL)) return NSS_STATUS_NOTFOUND;
    return fill(pw, name, uid, buf, buflen, errnop);
}
