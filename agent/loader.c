/* loader.c: finds, checks and loads resource-type plugins from a trusted directory. */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "loader.h"

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

int plugin_load_file(const char *dir, const char *file, const dr_host_api *host, const plugin_set *loaded,
                     plugin *out, dr_error *err)
{
    char path[PATH_MAX], real[PATH_MAX], realdir[PATH_MAX];
    struct stat st;
    dr_plugin_entry_fn entry;
    const dr_plugin_descriptor *d;
    void *h = NULL;
    dr_error ierr;
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
    if (d->struct_size < DR_DESCRIPTOR_MIN_SIZE)
        return dr_error_set(err, DR_EPLUGIN, "%s: refused: descriptor struct_size %u is smaller than ABI %d.0's %zu",
                            path, d->struct_size, DR_ABI_MAJOR, (size_t)DR_DESCRIPTOR_MIN_SIZE);
    if (!valid_type(d->type))
        return dr_error_set(err, DR_EPLUGIN, "%s: refused: bad resource type name '%s'", path,
                            d->type ? d->type : "(null)");
    if (d->n_keys && !d->keys)
        return dr_error_set(err, DR_EPLUGIN, "%s: refused: declares %zu config keys but no key table", path,
                            d->n_keys);
    if (loaded) {
        const plugin *other = plugins_find(loaded, d->type);
        if (other)
            return dr_error_set(err, DR_EPLUGIN, "%s: refused: a second plugin for resource type '%s' (already loaded from %s)",
                                path, d->type, other->path);
    }
    /* copy what the plugin knows; members it does not know stay zero (NULL hooks) */
    memcpy(&out->desc, d, d->struct_size < sizeof(out->desc) ? d->struct_size : sizeof(out->desc));
    dr_error_clear(&ierr);
    if (out->desc.init && out->desc.init(host, &ierr) != 0)
        return dr_error_set(err, DR_EPLUGIN, "%s: refused: init failed: %s", path,
                            ierr.message[0] ? ierr.message : dr_strerror(ierr.code));
    out->path = strdup(path);
    if (!out->path)
        return dr_error_set(err, DR_ENOMEM, "%s: out of memory", path);
    return 0;
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

int plugins_load_dir(const char *dir, const dr_host_api *host, plugin_set *set, dr_error *err)
{
    struct stat st;
    DIR *d = NULL;
    struct dirent *e;
    char **names = NULL;
    size_t n_names = 0;
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
    /* sorted, so that which of two same-type plugins wins does not depend on the file system */
    if (n_names > 1)
        qsort(names, n_names, sizeof(*names), cmp_names);
    for (size_t i = 0; i < n_names; i++) {
        plugin p;
        plugin *items;
        dr_error perr;

        dr_error_clear(&perr);
        if (plugin_load_file(dir, names[i], host, set, &p, &perr) != 0) {
            add_refusal(set, perr.message);
            continue; /* p.handle, if set, stays open on purpose */
        }
        items = realloc(set->items, (set->n + 1) * sizeof(*items));
        if (!items) {
            free(p.path);
            rc = dr_error_set(err, DR_ENOMEM, "out of memory");
            goto out;
        }
        set->items = items;
        set->items[set->n++] = p;
    }
out:
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
    for (size_t i = 0; i < set->n; i++)
        free(set->items[i].path);
    free(set->items);
    for (size_t i = 0; i < set->n_refusals; i++)
        free(set->refusals[i]);
    free(set->refusals);
    memset(set, 0, sizeof(*set));
}
