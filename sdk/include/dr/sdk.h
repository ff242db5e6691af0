/* dr/sdk.h: everything a plugin includes: the plugin ABI, errors, documents, helpers and the AWS client. */
#ifndef DR_SDK_H
#define DR_SDK_H

#include "dr/error.h"
#include "dr/plugin.h"
#include "dr/util.h"
#include "dr/doc.h"
#include "dr/aws.h"
#include "dr/check.h"

#endif /* DR_SDK_H */
