/* loader.c: finds, checks and loads resource-type plugins from a trusted directory. */
#include <dirent.h>
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dr/util.h"
#include "isolate.h"
#include "loader.h"
#include "cancel.h"

int plugin_builtin_type(const char *type)
{
    static const char *const builtin[] = {"dynamodb", "aurora", "s3", "backup", "route53", NULL};

    for (const char *const *b = builtin; type && *b; b++)
        if (strcmp(*b, type) == 0)
            return 1;
    return 0;
}

/* Owned by root or by the invoking user, and not writable by group or others. */
static int trusted_owner_mode(const struct stat *st, const char *what, const char *path, dr_error *err)
{
    uid_t me = geteuid();

    if (st->st_uid != 0 && st->st_uid != me)
        return dr_error_set(err, DR_EDENIED, "%s: refused: %s is owned by uid %u, not by root or the invoking user (uid %u)",
                            path, what, (unsigned)st->st_uid, (unsigned)me);
    if (st->st_mode & (S_IWGRP | S_IWOTH))
        return dr_error_set(err, DR_EDENIED, "%s: refused: %s is writable by %s (mode %04o)", path, what,
                            (st->st_mode & S_IWOTH) ? "others" : "group", (unsigned)(st->st_mode & 07777));
    return 0;
}

/* A run path directory: absolute, owned by root or the invoking user, not writable by group or others. */
static int trusted_runpath_dir(const char *so, const char *entry, const char *dirpath, dr_error *err)
{
    char p[PATH_MAX];
    struct stat st;

    if (dirpath[0] != '/')
        return dr_error_set(err, DR_EDENIED, "%s: refused: run path entry '%s' is %s", so, entry,
                            dirpath[0] ? "relative" : "empty (the current directory)");
    snprintf(p, sizeof(p), "%s", dirpath);
    /* a missing directory could be created by whoever may write to its nearest existing parent */
    while (stat(p, &st) != 0) {
        char *slash = strrchr(p, '/');
        if (!slash || slash == p) {
            snprintf(p, sizeof(p), "/");
            if (stat(p, &st) != 0)
                return dr_error_set(err, DR_EDENIED, "%s: refused: run path entry '%s' cannot be checked", so, entry);
            break;
        }
        *slash = '\0';
    }
    if (st.st_uid != 0 && st.st_uid != geteuid())
        return dr_error_set(err, DR_EDENIED, "%s: refused: run path entry '%s': %s is owned by uid %u", so, entry, p,
                            (unsigned)st.st_uid);
    if (st.st_mode & (S_IWGRP | S_IWOTH))
        return dr_error_set(err, DR_EDENIED, "%s: refused: run path entry '%s': %s is writable by %s (mode %04o)", so,
                            entry, p, (st.st_mode & S_IWOTH) ? "others" : "group", (unsigned)(st.st_mode & 07777));
    return 0;
}

static int check_runpath_list(const char *so, const char *origin, const char *list, dr_error *err)
{
    const char *p = list;

    for (;;) {
        size_t n = strcspn(p, ":");
        char entry[PATH_MAX], dirpath[PATH_MAX];

        if (n >= sizeof(entry))
            return dr_error_set(err, DR_EDENIED, "%s: refused: run path entry too long", so);
        memcpy(entry, p, n);
        entry[n] = '\0';
        size_t tok = strncmp(entry, "$ORIGIN", 7) == 0 ? 7 : strncmp(entry, "${ORIGIN}", 9) == 0 ? 9 : 0;
        if (tok && (entry[tok] == '\0' || entry[tok] == '/')) {
            if (strlen(origin) + strlen(entry + tok) >= sizeof(dirpath))
                return dr_error_set(err, DR_EDENIED, "%s: refused: run path entry '%s' too long", so, entry);
            memcpy(dirpath, origin, strlen(origin) + 1);
            strcat(dirpath, entry + tok);
        } else if (strchr(entry, '$'))
            return dr_error_set(err, DR_EDENIED, "%s: refused: run path entry '%s' uses a token other than $ORIGIN", so,
                                entry);
        else
            snprintf(dirpath, sizeof(dirpath), "%s", entry);
        if (trusted_runpath_dir(so, entry, dirpath, err) != 0)
            return err->code;
        if (!p[n])
            return 0;
        p += n + 1;
    }
}

int plugin_check_runpath(const char *path, dr_error *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    unsigned char *m = NULL;
    char real[PATH_MAX], origin[PATH_MAX];
    const Elf64_Ehdr *eh;
    const Elf64_Phdr *ph;
    const Elf64_Dyn *dyn = NULL;
    size_t n_dyn = 0;
    uint64_t strtab = 0, strsz = 0, strtab_off = 0;
    int rc = 0, found_str = 0;

    if (fd < 0 || fstat(fd, &st) != 0) {
        rc = dr_error_set(err, DR_EPLUGIN, "%s: refused: %s", path, strerror(errno));
        goto out;
    }
    m = malloc((size_t)st.st_size + 1);
    if (!m || read(fd, m, (size_t)st.st_size) != st.st_size) {
        rc = dr_error_set(err, DR_EPLUGIN, "%s: refused: cannot read the file", path);
        goto out;
    }
    eh = (const Elf64_Ehdr *)m;
    if ((size_t)st.st_size < sizeof(*eh) || eh->e_ident[EI_CLASS] != ELFCLASS64 || eh->e_phentsize != sizeof(Elf64_Phdr) ||
        eh->e_phoff > (uint64_t)st.st_size || eh->e_phnum > ((uint64_t)st.st_size - eh->e_phoff) / sizeof(Elf64_Phdr)) {
        rc = dr_error_set(err, DR_EPLUGIN, "%s: refused: not a 64-bit ELF shared object", path);
        goto out;
    }
    ph = (const Elf64_Phdr *)(m + eh->e_phoff);
    for (size_t i = 0; i < eh->e_phnum; i++) {
        if (ph[i].p_type == PT_DYNAMIC && ph[i].p_offset <= (uint64_t)st.st_size &&
            ph[i].p_filesz <= (uint64_t)st.st_size - ph[i].p_offset) {
            dyn = (const Elf64_Dyn *)(m + ph[i].p_offset);
            n_dyn = ph[i].p_filesz / sizeof(Elf64_Dyn);
        }
    }
    for (size_t i = 0; i < n_dyn && dyn[i].d_tag != DT_NULL; i++) {
        if (dyn[i].d_tag == DT_STRTAB)
            strtab = dyn[i].d_un.d_ptr;
        else if (dyn[i].d_tag == DT_STRSZ)
            strsz = dyn[i].d_un.d_val;
    }
    /* the string table's address to a file offset, through the load segment that holds it */
    for (size_t i = 0; i < eh->e_phnum; i++) {
        if (ph[i].p_type == PT_LOAD && strtab >= ph[i].p_vaddr && strtab < ph[i].p_vaddr + ph[i].p_filesz) {
            strtab_off = strtab - ph[i].p_vaddr + ph[i].p_offset;
            found_str = 1;
            break;
        }
    }
    if (!realpath(path, real)) {
        rc = dr_error_set(err, DR_EPLUGIN, "%s: refused: %s", path, strerror(errno));
        goto out;
    }
    snprintf(origin, sizeof(origin), "%s", dirname(real));
    for (size_t i = 0; i < n_dyn && dyn[i].d_tag != DT_NULL; i++) {
        const char *list;
        if (dyn[i].d_tag != DT_RUNPATH && dyn[i].d_tag != DT_RPATH)
            continue;
        if (!found_str || strtab_off >= (uint64_t)st.st_size || strsz > (uint64_t)st.st_size - strtab_off ||
            dyn[i].d_un.d_val >= strsz || !memchr(m + strtab_off + dyn[i].d_un.d_val, '\0', strsz - dyn[i].d_un.d_val)) {
            rc = dr_error_set(err, DR_EPLUGIN, "%s: refused: malformed dynamic section", path);
            goto out;
        }
        list = (const char *)m + strtab_off + dyn[i].d_un.d_val;
        if ((rc = check_runpath_list(path, origin, list, err)) != 0)
            goto out;
    }
out:
    free(m);
    if (fd >= 0)
        close(fd);
    return rc;
}

static int has_elf_header(const char *path)
{
    unsigned char magic[4];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n;

    if (fd < 0)
        return 0;
    n = read(fd, magic, sizeof(magic));
    close(fd);
    return n == 4 && magic[0] == 0x7f && magic[1] == 'E' && magic[2] == 'L' && magic[3] == 'F';
}

static int valid_type(const char *t)
{
    if (!t || !*t || strlen(t) > 32)
        return 0;
    for (; *t; t++)
        if (!((*t >= 'a' && *t <= 'z') || (*t >= '0' && *t <= '9') || *t == '_'))
            return 0;
    return 1;
}

/* Everything up to a valid descriptor: file checks, run path, dlopen, entry point, versions; no init. */
static int plugin_open_file(const char *dir, const char *file, plugin *out, dr_error *err)
{
    char path[PATH_MAX], real[PATH_MAX], realdir[PATH_MAX];
    struct stat st;
    dr_plugin_entry_fn entry;
    const dr_plugin_descriptor *d;
    void *h = NULL;
    int n;

    memset(out, 0, sizeof(*out));
    n = snprintf(path, sizeof(path), "%s/%s", dir, file);
    if (n < 0 || (size_t)n >= sizeof(path))
        return dr_error_set(err, DR_EPLUGIN, "%s/%s: refused: path too long", dir, file);
    if (lstat(path, &st) != 0)
        return dr_error_set(err, DR_EPLUGIN, "%s: refused: %s", path, strerror(errno));
    if (S_ISLNK(st.st_mode)) {
        size_t dl;
        /* a symlink may point inside the plugin directory only */
        if (!realpath(path, real) || !realpath(dir, realdir))
            return dr_error_set(err, DR_EPLUGIN, "%s: refused: dangling symlink", path);
        dl = strlen(realdir);
        if (strncmp(real, realdir, dl) != 0 || real[dl] != '/')
            return dr_error_set(err, DR_EDENIED, "%s: refused: symlink leads out of the plugin directory (to %s)",
                                path, real);
        if (stat(real, &st) != 0)
            return dr_error_set(err, DR_EPLUGIN, "%s: refused: %s", path, strerror(errno));
    }
    if (!S_ISREG(st.st_mode))
        return dr_error_set(err, DR_EPLUGIN, "%s: refused: not a regular file", path);
    if (trusted_owner_mode(&st, "the file", path, err) != 0)
        return err->code;
    if (!has_elf_header(path))
        return dr_error_set(err, DR_EPLUGIN, "%s: refused: not a shared object (no ELF header)", path);
    if (plugin_check_runpath(path, err) != 0)
        return err->code;

    dlerror();
    h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *why = dlerror();
        return dr_error_set(err, DR_EPLUGIN, "%s: refused: not a loadable shared object: %s", path,
                            why ? why : "unknown dlopen error");
    }
    *(void **)(&entry) = dlsym(h, DR_PLUGIN_ENTRY_SYMBOL);
    if (!entry) {
        dlclose(h); /* no plugin code has run */
        return dr_error_set(err, DR_EPLUGIN, "%s: refused: missing entry symbol %s", path, DR_PLUGIN_ENTRY_SYMBOL);
    }
    /* From here plugin code has run: the handle stays open whatever happens. */
    d = entry();
    out->handle = h;
    if (!d)
        return dr_error_set(err, DR_EPLUGIN, "%s: refused: %s returned NULL", path, DR_PLUGIN_ENTRY_SYMBOL);
    if (d->magic != DR_PLUGIN_MAGIC)
        return dr_error_set(err, DR_EPLUGIN, "%s: refused: wrong magic 0x%08x (expected 0x%08x): not a dr-agent plugin",
                            path, d->magic, DR_PLUGIN_MAGIC);
    if (d->abi_major != DR_ABI_MAJOR)
        return dr_error_set(err, DR_EPLUGIN, "%s: refused: plugin ABI %u.%u, host ABI %d.%d: major versions differ",
                            path, d->abi_major, d->abi_minor, DR_ABI_MAJOR, DR_ABI_MINOR);
    if (d->abi_minor > DR_ABI_MINOR)
        return dr_error_set(err, DR_EPLUGIN,
                            "%s: refused: plugin ABI %u.%u is newer than host ABI %d.%d: upgrade dr-agent", path,
                            d->abi_major, d->abi_minor, DR_ABI_MAJOR, DR_ABI_MINOR);
    if (d->struct_size < AG_DESCRIPTOR_MIN_SIZE)
        return dr_error_set(err, DR_EPLUGIN, "%s: refused: descriptor struct_size %u is smaller than ABI %d.0's %zu",
                            path, d->struct_size, DR_ABI_MAJOR, (size_t)AG_DESCRIPTOR_MIN_SIZE);
    if (!valid_type(d->type))
        return dr_error_set(err, DR_EPLUGIN, "%s: refused: bad resource type name '%s'", path,
                            d->type ? d->type : "(null)");
    if (d->n_keys && !d->keys)
        return dr_error_set(err, DR_EPLUGIN, "%s: refused: declares %zu config keys but no key table", path,
                            d->n_keys);
    /* copy what the plugin knows; members it does not know stay zero (NULL hooks) */
    memcpy(&out->desc, d, d->struct_size < sizeof(out->desc) ? d->struct_size : sizeof(out->desc));
    out->path = strdup(path);
    if (!out->path)
        return dr_error_set(err, DR_ENOMEM, "%s: out of memory", path);
    return 0;
}

static int same_dir(const char *path, const char *dir)
{
    char a[PATH_MAX], b[PATH_MAX];

    if (!dir || !realpath(path, a) || !realpath(dir, b))
        return 0;
    return strcmp(dirname(a), b) == 0;
}

struct init_arg {
    const plugin *p;
    const dr_host_api *host;
};

static int isolated_init_body(void *arg, char *err_out, size_t err_len)
{
    struct init_arg *ia = arg;
    dr_error e;
    int rc;

    dr_error_clear(&e);
    rc = ia->p->desc.init(ia->host, &e);
    if (rc != 0)
        snprintf(err_out, err_len, "%s", e.message[0] ? e.message : dr_strerror(rc));
    return rc;
}

static void init_log_frame(void *arg, const iso_msg *m)
{
    (void)arg;
    if (m->type == ISO_LOG && m->s[0])
        fprintf(stderr, "dr-agent: plugin init: %s\n", m->s[0]);
}

/* The plugin's init: in the process, or (isolated) tried in a child under a deadline and the cancel request. */
static int plugin_init(plugin *p, const dr_host_api *host, double timeout, dr_error *err)
{
    dr_error ierr;
    int rc;

    if (!p->desc.init)
        return 0;
    if (p->isolated) {
        struct init_arg ia = {p, host};
        iso_outcome out;
        int64_t deadline = dr_mono_ms() + (int64_t)((timeout > 0 ? timeout : 30.0) * 1000.0);
        if (iso_call("init", isolated_init_body, &ia, init_log_frame, NULL, deadline, 0, cancel_requested,
                     &out) != 0)
            return dr_error_set(err, DR_EPLUGIN, "%s: refused: %s", p->path, out.message);
        if (!out.returned) {
            /* kept, so that its resources are known and each fails with this message */
            dr_error_set(err, DR_EPLUGIN, "%s: %s; its resources fail", p->path, out.message);
            p->broken = strdup(out.message);
            return p->broken ? DR_EPLUGIN : dr_error_set(err, DR_ENOMEM, "out of memory");
        }
        if (out.rc != 0)
            return dr_error_set(err, DR_EPLUGIN, "%s: refused: init failed: %s", p->path,
                                out.message[0] ? out.message : dr_strerror(out.rc));
        return 0;
    }
    dr_error_clear(&ierr);
    plugin_code_enter();
    rc = p->desc.init(host, &ierr);
    plugin_code_leave();
    if (rc != 0)
        return dr_error_set(err, DR_EPLUGIN, "%s: refused: init failed: %s", p->path,
                            ierr.message[0] ? ierr.message : dr_strerror(ierr.code));
    return 0;
}

static void classify(plugin *p, const plugin_set *set)
{
    p->shipped = set && plugin_builtin_type(p->desc.type) && same_dir(p->path, set->own_dir);
    if (!set || set->isolation == ISOLATE_NONE)
        p->isolated = 0;
    else
        p->isolated = set->isolation == ISOLATE_ALL || !p->shipped;
}

int plugin_load_file(const char *dir, const char *file, const dr_host_api *host, const plugin_set *loaded,
                     plugin *out, dr_error *err)
{
    int rc = plugin_open_file(dir, file, out, err);

    if (rc != 0) {
        free(out->path);
        out->path = NULL;
        return rc;
    }
    if (loaded) {
        const plugin *other = plugins_find(loaded, out->desc.type);
        if (other) {
            rc = dr_error_set(err, DR_EPLUGIN, "%s: refused: a second plugin for resource type '%s' (already loaded from %s)",
                              out->path, out->desc.type, other->path);
            goto fail;
        }
    }
    classify(out, loaded);
    rc = plugin_init(out, host, loaded ? loaded->init_timeout : 0, err);
    if (rc == 0)
        return 0;
fail:
    free(out->path);
    free(out->broken);
    out->path = NULL;
    out->broken = NULL;
    return rc;
}

static int add_refusal(plugin_set *set, const char *msg)
{
    char **n = realloc(set->refusals, (set->n_refusals + 1) * sizeof(*n));

    if (!n)
        return DR_ENOMEM;
    set->refusals = n;
    set->refusals[set->n_refusals] = strdup(msg);
    if (set->refusals[set->n_refusals])
        set->n_refusals++;
    return 0;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int same_file(const char *a, const char *b)
{
    struct stat sa, sb;

    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

static int already_candidate(const plugin *c, size_t n, const char *path)
{
    for (size_t i = 0; i < n; i++)
        if (c[i].path && same_file(c[i].path, path))
            return 1;
    return 0;
}

/* Another loaded candidate of the same type than k. */
static size_t other_of(const plugin *c, size_t n, size_t k, const char *type)
{
    for (size_t i = 0; i < n; i++)
        if (i != k && c[i].path && strcmp(c[i].desc.type, type) == 0)
            return i;
    return k;
}

int plugins_load_dir(const char *dir, const dr_host_api *host, plugin_set *set, dr_error *err)
{
    struct stat st;
    DIR *d = NULL;
    struct dirent *e;
    char **names = NULL;
    size_t n_names = 0, n_cands = 0;
    plugin *cands = NULL;
    unsigned char *drop = NULL, *done;
    int rc = 0;

    if (stat(dir, &st) != 0)
        return dr_error_set(err, DR_EPLUGIN, "plugin directory %s: %s", dir, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return dr_error_set(err, DR_EPLUGIN, "plugin directory %s: not a directory", dir);
    if (trusted_owner_mode(&st, "the plugin directory", dir, err) != 0)
        return err->code;

    d = opendir(dir);
    if (!d)
        return dr_error_set(err, DR_EPLUGIN, "plugin directory %s: %s", dir, strerror(errno));
    while ((e = readdir(d)) != NULL) {
        size_t l = strlen(e->d_name);
        char **nn;
        if (l < 4 || strcmp(e->d_name + l - 3, ".so") != 0)
            continue;
        nn = realloc(names, (n_names + 1) * sizeof(*nn));
        if (!nn) {
            rc = dr_error_set(err, DR_ENOMEM, "out of memory");
            goto out;
        }
        names = nn;
        names[n_names] = strdup(e->d_name);
        if (!names[n_names]) {
            rc = dr_error_set(err, DR_ENOMEM, "out of memory");
            goto out;
        }
        n_names++;
    }
    if (n_names > 1)
        qsort(names, n_names, sizeof(*names), cmp_names);
    /* 1. open every candidate: the directory's files, then the explicitly chosen files */
    cands = calloc(n_names + set->n_choices + 1, sizeof(*cands));
    drop = calloc(n_names + set->n_choices + 1, 2);
    done = drop ? drop + n_names + set->n_choices + 1 : NULL;
    if (!cands || !drop) {
        rc = dr_error_set(err, DR_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n_names + set->n_choices; i++) {
        dr_error perr;
        char cdir[PATH_MAX], cfile[PATH_MAX];
        const char *fdir = dir, *fname;

        if (i < n_names) {
            fname = names[i];
        } else {
            const plugin_choice *ch = &set->choices[i - n_names];
            snprintf(cdir, sizeof(cdir), "%s", ch->path);
            snprintf(cfile, sizeof(cfile), "%s", ch->path);
            if (already_candidate(cands, n_cands, ch->path))
                continue;
            fdir = dirname(cdir);
            fname = basename(cfile);
            if (stat(fdir, &st) != 0 || trusted_owner_mode(&st, "the plugin's directory", fdir, &perr) != 0) {
                if (stat(fdir, &st) != 0)
                    dr_error_set(&perr, DR_EPLUGIN, "%s: refused: %s", ch->path, strerror(errno));
                add_refusal(set, perr.message);
                continue;
            }
        }
        dr_error_clear(&perr);
        if (plugin_open_file(fdir, fname, &cands[n_cands], &perr) != 0) {
            free(cands[n_cands].path);
            add_refusal(set, perr.message);
            continue; /* the handle, if set, stays open on purpose */
        }
        n_cands++;
    }
    /* 2. one plugin per type: the chosen one, else the shipped one, else none of them */
    for (size_t i = 0; i < n_cands; i++)
        classify(&cands[i], set);
    for (size_t i = 0; i < n_cands; i++) {
        const char *type = cands[i].desc.type, *chosen = NULL;
        size_t winner = SIZE_MAX, count = 0, shipped = SIZE_MAX;

        if (!cands[i].path || done[i])
            continue;
        for (size_t k = 0; k < set->n_choices; k++)
            if (strcmp(set->choices[k].type, type) == 0)
                chosen = set->choices[k].path;
        for (size_t k = i; k < n_cands; k++) {
            if (!cands[k].path || strcmp(cands[k].desc.type, type) != 0)
                continue;
            count++;
            if (chosen && same_file(cands[k].path, chosen))
                winner = k;
            if (cands[k].shipped && shipped == SIZE_MAX)
                shipped = k;
        }
        if (count < 2 && !(chosen && winner == SIZE_MAX)) {
            done[i] = 1;
            continue;
        }
        if (winner == SIZE_MAX && !chosen)
            winner = shipped;
        for (size_t k = i; k < n_cands; k++) {
            char msg[2 * PATH_MAX + 256];
            if (k == winner || !cands[k].path || strcmp(cands[k].desc.type, type) != 0)
                continue;
            if (chosen)
                snprintf(msg, sizeof(msg), "%s: refused: agent.plugin_paths.%s chooses %s for resource type '%s'",
                         cands[k].path, type, chosen, type);
            else if (winner != SIZE_MAX)
                snprintf(msg, sizeof(msg),
                         "%s: refused: resource type '%s' is built in (%s); another file can provide it only when "
                         "agent.plugin_paths.%s names it",
                         cands[k].path, type, cands[winner].path, type);
            else
                snprintf(msg, sizeof(msg),
                         "%s: refused: a second plugin for resource type '%s' (also in %s); name the one to use in "
                         "agent.plugin_paths.%s",
                         cands[k].path, type, cands[other_of(cands, n_cands, k, type)].path, type);
            add_refusal(set, msg);
            drop[k] = 1;
        }
        for (size_t k = i; k < n_cands; k++) {
            if (!cands[k].path || strcmp(cands[k].desc.type, type) != 0)
                continue;
            done[k] = 1;
            if (drop[k]) {
                free(cands[k].path);
                cands[k].path = NULL;
            }
        }
    }
    /* 3. init what remains */
    for (size_t i = 0; i < n_cands; i++) {
        plugin *items;
        dr_error perr;

        if (!cands[i].path)
            continue;
        dr_error_clear(&perr);
        if (plugin_init(&cands[i], host, set->init_timeout, &perr) != 0 && !cands[i].broken) {
            add_refusal(set, perr.message);
            free(cands[i].path);
            cands[i].path = NULL;
            continue;
        }
        if (cands[i].broken)
            add_refusal(set, perr.message);
        items = realloc(set->items, (set->n + 1) * sizeof(*items));
        if (!items) {
            rc = dr_error_set(err, DR_ENOMEM, "out of memory");
            goto out;
        }
        set->items = items;
        set->items[set->n++] = cands[i];
        cands[i].path = NULL;
        cands[i].broken = NULL;
    }
out:
    for (size_t i = 0; i < n_cands; i++) {
        free(cands[i].path);
        free(cands[i].broken);
    }
    free(cands);
    free(drop);
    for (size_t i = 0; i < n_names; i++)
        free(names[i]);
    free(names);
    if (d)
        closedir(d);
    return rc;
}

const plugin *plugins_find(const plugin_set *set, const char *type)
{
    if (!type)
        return NULL;
    for (size_t i = 0; i < set->n; i++)
        if (strcmp(set->items[i].desc.type, type) == 0)
            return &set->items[i];
    return NULL;
}

void plugin_set_free(plugin_set *set)
{
    for (size_t i = 0; i < set->n; i++) {
        free(set->items[i].path);
        free(set->items[i].broken);
    }
    free(set->items);
    for (size_t i = 0; i < set->n_refusals; i++)
        free(set->refusals[i]);
    free(set->refusals);
    memset(set, 0, sizeof(*set));
}
