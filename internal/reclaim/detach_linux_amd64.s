#include "textflag.h"

// func clone(flags, stack uintptr, ops *op) int
//
// The child runs on stack, which it never touches (no call, no push, and
// every signal blocked), makes the system call of each op, 32 bytes
// each, until one numbered opEnd (-1), then exits.
TEXT ·clone(SB),NOSPLIT,$0-32
	MOVQ	flags+0(FP), DI
	MOVQ	stack+8(FP), SI
	MOVQ	ops+16(FP), R12 // callee-saved: the child has it too
	XORQ	DX, DX
	XORQ	R10, R10
	XORQ	R8, R8
	MOVL	$56, AX // SYS_clone
	SYSCALL
	CMPQ	AX, $0
	JEQ	child
	MOVQ	AX, ret+24(FP)
	RET

child:
	MOVQ	0(R12), AX
	CMPQ	AX, $-1
	JEQ	exit
	MOVQ	8(R12), DI
	MOVQ	16(R12), SI
	MOVQ	24(R12), DX
	SYSCALL
	ADDQ	$32, R12
	JMP	child

exit:
	XORQ	DI, DI
	MOVL	$60, AX // SYS_exit
	SYSCALL
	JMP	exit
