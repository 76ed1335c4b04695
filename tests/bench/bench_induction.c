// Wall time of the default `mechlab run induction` (the 2-layer model, its 1-layer control and
// the analysis): the command from $MECHLAB_CLI, output in a temporary folder. The target is under
// two minutes on two cores; the load average is printed beside it because the machine may be
// shared.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "model/timer.h"

void bench_induction(void) {
    const char *cli = getenv("MECHLAB_CLI");
    if (!cli) cli = "build/mechlab";
    char dir[] = "/tmp/mechlab-bench-XXXXXX";
    if (!mkdtemp(dir)) {
        fprintf(stderr, "bench induction: cannot make a temporary folder\n");
        return;
    }
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "%s run induction --out %s/run >%s/out.txt 2>%s/err.txt", cli, dir,
             dir, dir);
    double load[3] = {0};
    double t0 = timer_now();
    int st = system(cmd);
    double secs = timer_now() - t0;
    int rc = st == -1 || !WIFEXITED(st) ? -1 : WEXITSTATUS(st);
    if (getloadavg(load, 3) < 1) load[0] = -1;
    printf("bench induction seconds=%.1f exit=%d target_seconds=120 met=%s load1=%.2f\n", secs, rc,
           rc == 0 && secs < 120 ? "yes" : "no", load[0]);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "bench induction: could not remove %s\n", dir);
}
