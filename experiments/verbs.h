// verbs.h — every verb of the mechlab command, one function each, one file each
// (experiments/cmd_<verb>.c or experiments/<experiment>.c). Add a verb here and in the table in
// mechlab.c.
#ifndef MECHLAB_VERBS_H
#define MECHLAB_VERBS_H

int cmd_version(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_train_cnn(int argc, char **argv);  // mechlab train cnn (cmd_train_cnn.c)
int cmd_inspect(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_hooks(int argc, char **argv);
int cmd_heads(int argc, char **argv);
int cmd_list(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_cache(int argc, char **argv);
int cmd_probe(int argc, char **argv);
int cmd_pca(int argc, char **argv);
int cmd_lens(int argc, char **argv);
int run_sae_toy(int argc, char **argv);  // experiments/sae_toy.c
int cmd_patch(int argc, char **argv);
int cmd_sae(int argc, char **argv);
int cmd_featviz(int argc, char **argv);  // mechlab featviz (cmd_featviz.c)
int run_curves(int argc, char **argv);  // mechlab run curves (curves.c)
int run_fashion(int argc, char **argv);  // mechlab run fashion (fashion.c)
int run_induction(int argc, char **argv);  // mechlab run induction (induction.c)
int run_superposition(int argc, char **argv);  // mechlab run superposition (superposition.c)

#endif
