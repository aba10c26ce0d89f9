#include <signal.h>
#include "cairn_kernels.h"

static volatile sig_atomic_t noted[65];

void cairn_note_signal(int number) {
    if (number > 0 && number < 65) noted[number] = 1;
}

int cairn_signal_noted(int number) {
    return number > 0 && number < 65 ? noted[number] : 0;
}

void cairn_forget_signals(void) {
    for (int number = 0; number < 65; number++) noted[number] = 0;
}
