/* profile.h: SDK-internal parser of the AWS shared config and credentials files (profiles, sso-session and services sections). */
#ifndef DRS_PROFILE_H
#define DRS_PROFILE_H

/*
 * Ownership: a drs_profiles owns every section, key and value; free it with
 * drs_profiles_free(). Strings returned by lookups are borrowed from it.
 * Values may hold secrets (aws_secret_access_key): never log them.
 */

#include <stddef.h>

#include "dr/error.h"

typedef enum drs_section_type {
    DRS_SECTION_PROFILE = 0,
    DRS_SECTION_SSO_SESSION = 1,
    DRS_SECTION_SERVICES = 2,
    DRS_SECTION_BARE_DEFAULT = 3 /* "[default]" of the config file, used only without "[profile default]" */
} drs_section_type;

typedef struct drs_kv {
    char *key;   /* lower case */
    char *value; /* a sub-property block starts with '\n' */
} drs_kv;

typedef struct drs_section {
    drs_section_type type;
    char *name;
    drs_kv *kv;
    size_t n, cap;
} drs_section;

typedef struct drs_profiles {
    drs_section *s;
    size_t n, cap;
} drs_profiles;

/* Parse one file's text and merge it into p (config first, then credentials, whose values win). */
int drs_profiles_parse(drs_profiles *p, const char *text, size_t len, int credentials_file, dr_error *err);
/* Load the files named by AWS_CONFIG_FILE / AWS_SHARED_CREDENTIALS_FILE (default ~/.aws/...); missing files are fine. */
int drs_profiles_load(drs_profiles *p, dr_error *err);
void drs_profiles_free(drs_profiles *p);

/* Paths of the config and credentials files (malloc'd, caller frees). */
void drs_profiles_paths(char **config, char **credentials);

const drs_section *drs_profiles_find(const drs_profiles *p, drs_section_type type, const char *name);
/* A profile's property, NULL when the profile or the key is absent. */
const char *drs_profile_get(const drs_profiles *p, const char *profile, const char *key);
/* A sub-property of a sub-property block ("\nendpoint_url = x"): malloc'd value or NULL. */
char *drs_subprop(const char *block, const char *key);

#endif /* DRS_PROFILE_H */
