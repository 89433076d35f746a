/* boa-train — `boa train` as a program of its own, for training runs away from the boa CLI. */
#include "boa_train.h"

int main(int argc, char **argv)
{
	return boa_train_cli(argc, argv);
}
