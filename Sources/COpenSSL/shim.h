#include <openssl/evp.h>
#include <openssl/crypto.h>
#include <openssl/opensslv.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/err.h>
