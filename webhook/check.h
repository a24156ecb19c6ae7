/* SPDX-License-Identifier: Apache-2.0 */
/* The check command: manifests judged offline as the webhook would, and where their pods fit. */
#ifndef GTW_CHECK_H
#define GTW_CHECK_H

/*
 * Runs `gpu-tenancy-webhook check` with argv[0] == "check": reads a policy, manifests and
 * optionally the cluster's nodes, judges every object as a CREATE through the same decisions
 * the server makes, prints the verdicts, the patches and where admitted pods could be
 * scheduled, and returns the exit status: 0 when everything is allowed, 1 when something is
 * denied, 2 for bad input or usage. Prints its own help for -h and --help.
 */
int check_main(int argc, char **argv);

#endif
