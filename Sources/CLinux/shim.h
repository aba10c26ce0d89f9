#define _GNU_SOURCE 1
#include <sys/xattr.h>
#include <sys/types.h>
#include <sys/stat.h>
#include <fcntl.h>
static const int cairn_O_NOATIME = O_NOATIME;
