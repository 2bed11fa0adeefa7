/* lib/signature on logs cut from real crashes of Debian's 6.1 and 6.12
 * kernels in the lab, and on a 6.12 oops; lib/kallsyms' name expansion. */
#include <errno.h>
#include <stdlib.h>

#include "harness.h"
#include "kallsyms.h"
#include "signature.h"

/* 6.12.117, echo c > /proc/sysrq-trigger */
static const char sysrq_612[] =
        "[    6.170597] [    T154] sysrq: Trigger a crash\n"
        "[    6.171437] [    T154] Kernel panic - not syncing: sysrq triggered crash\n"
        "[    6.171837] [    T154] CPU: 0 UID: 0 PID: 154 Comm: sh Kdump: loaded Not tainted 6.12.117+deb13-cloud-amd64 #1  Debian 6.12.117-1\n"
        "[    6.172251] [    T154] Hardware name: QEMU Standard PC (i440FX + PIIX, 1996), BIOS 1.16.2-debian-1.16.2-1 04/01/2014\n"
        "[    6.172734] [    T154] Call Trace:\n"
        "[    6.173344] [    T154]  <TASK>\n"
        "[    6.173754] [    T154]  dump_stack_lvl+0x5d/0x80\n"
        "[    6.174112] [    T154]  panic+0x118/0x2db\n"
        "[    6.174260] [    T154]  ? _printk+0x6c/0x87\n"
        "[    6.174368] [    T154]  sysrq_handle_crash+0x1a/0x20\n"
        "[    6.174502] [    T154]  __handle_sysrq.cold+0x9f/0xe6\n"
        "[    6.174629] [    T154]  write_sysrq_trigger+0x59/0x80\n"
        "[    6.174752] [    T154]  proc_reg_write+0x5a/0xa0\n"
        "[    6.174868] [    T154]  vfs_write+0xf8/0x440\n"
        "[    6.174974] [    T154]  ? arch_exit_to_user_mode_prepare.isra.0+0x16/0xa0\n"
        "[    6.175447] [    T154]  ksys_write+0x6d/0xf0\n"
        "[    6.175550] [    T154]  do_syscall_64+0x87/0x180\n"
        "[    6.177468] [    T154]  entry_SYSCALL_64_after_hwframe+0x76/0x7e\n"
        "[    6.177799] [    T154] RIP: 0033:0x47b7a0\n"
        "[    6.178086] [    T154] Code: 40 00 48 c7 c2 e0 ff ff ff f7 d8 64 89 02 48\n"
        "[    6.178671] [    T154] RSP: 002b:00007ffd740a4e08 EFLAGS: 00000202 ORIG_RAX: 0000000000000001\n"
        "[    6.179993] [    T154]  </TASK>\n";

/* The same crash on 6.1.192 at another time, on another CPU: the offsets,
 * timestamps, PIDs and unreliable frames differ, the signature must not. */
static const char sysrq_61[] =
        "[    6.356635] [    T110] sysrq: Trigger a crash\n"
        "[    6.357398] [    T110] Kernel panic - not syncing: sysrq triggered crash\n"
        "[    6.357703] [    T110] CPU: 1 PID: 110 Comm: sh Kdump: loaded Not tainted 6.1.0-56-cloud-amd64 #1  Debian 6.1.192-2\n"
        "[    6.358464] [    T110] Call Trace:\n"
        "[    6.359014] [    T110]  <TASK>\n"
        "[    6.359167] [    T110]  dump_stack_lvl+0x44/0x5c\n"
        "[    6.359480] [    T110]  panic+0x118/0x2f4\n"
        "[    6.359582] [    T110]  ? _printk+0x68/0x83\n"
        "[    6.359684] [    T110]  sysrq_handle_crash+0x16/0x20\n"
        "[    6.359881] [    T110]  __handle_sysrq.cold+0x44/0x11c\n"
        "[    6.360060] [    T110]  write_sysrq_trigger+0x24/0x40\n"
        "[    6.360168] [    T110]  proc_reg_write+0x56/0xa0\n"
        "[    6.360168] [    T110]  vfs_write+0xc7/0x3f0\n"
        "[    6.360168] [    T110]  ksys_write+0x6b/0xf0\n"
        "[    6.360168] [    T110]  do_syscall_64+0x5d/0x90\n"
        "[    6.360168] [    T110]  ? do_dup2+0x96/0xd0\n"
        "[    6.360168] [    T110]  entry_SYSCALL_64_after_hwframe+0x6e/0xd8\n"
        "[    6.360168] [    T110] RIP: 0033:0x47b7a0\n"
        "[    6.360168] [    T110]  </TASK>\n";

/* A NULL dereference in a module, 6.12's format, tainted, then panic. */
static const char oops_612[] =
        "[   20.1] [   T200] BUG: kernel NULL pointer dereference, address: 0000000000000000\n"
        "[   20.1] [   T200] #PF: supervisor write access in kernel mode\n"
        "[   20.1] [   T200] #PF: error_code(0x0002) - not-present page\n"
        "[   20.1] [   T200] Oops: Oops: 0002 [#1] PREEMPT SMP NOPTI\n"
        "[   20.1] [   T200] CPU: 1 UID: 0 PID: 200 Comm: insmod Tainted: G           OE      6.12.117+deb13-cloud-amd64 #1\n"
        "[   20.1] [   T200] RIP: 0010:kdlab_null+0x15/0x30 [kdlab_crash]\n"
        "[   20.1] [   T200] Code: 00 00 <c7> 04 25 00 00 00 00 01 00 00 00\n"
        "[   20.1] [   T200] RSP: 0018:ffffb3c0c04d7c48 EFLAGS: 00010246\n"
        "[   20.1] [   T200] Call Trace:\n"
        "[   20.1] [   T200]  <TASK>\n"
        "[   20.1] [   T200]  ? __die+0x23/0x70\n"
        "[   20.1] [   T200]  ? page_fault_oops+0x173/0x5b0\n"
        "[   20.1] [   T200]  kdlab_init+0x20/0xff0 [kdlab_crash]\n"
        "[   20.1] [   T200]  do_one_initcall+0x5b/0x310\n"
        "[   20.1] [   T200]  do_init_module+0x60/0x240\n"
        "[   20.1] [   T200]  </TASK>\n"
        "[   20.1] [   T200] Modules linked in: kdlab_crash(OE+) virtio_blk [last unloaded: foo]\n"
        "[   20.1] [   T200] CR2: 0000000000000000\n"
        "[   20.1] [   T200] ---[ end trace 0000000000000000 ]---\n"
        "[   20.1] [   T200] RIP: 0010:kdlab_null+0x15/0x30 [kdlab_crash]\n"
        "[   20.1] [   T200] Kernel panic - not syncing: Fatal exception\n"
        "[   20.1] [   T200] Kernel Offset: 0x3a000000 from 0xffffffff81000000\n";

/* 6.12, an unknown NMI with kernel.unknown_nmi_panic=1: the RIP: line
 * after the panic is the interrupted context's, which varies run to run. */
static const char nmi_612[] =
        "[    6.078597] [      C0] Uhhuh. NMI received for unknown reason 21 on CPU 0.\n"
        "[    6.080505] [      C0] Kernel panic - not syncing: NMI: Not continuing\n"
        "[    6.080805] [      C0] CPU: 0 UID: 0 PID: 0 Comm: swapper/0 Kdump: loaded Not tainted 6.12.117+deb13-cloud-amd64 #1\n"
        "[    6.081944] [      C0] Call Trace:\n"
        "[    6.082487] [      C0]  <NMI>\n"
        "[    6.082798] [      C0]  dump_stack_lvl+0x5d/0x80\n"
        "[    6.083484] [      C0]  panic+0x118/0x2db\n"
        "[    6.083501] [      C0]  ? _printk+0x6c/0x87\n"
        "[    6.083516] [      C0]  nmi_panic.cold+0xc/0xc\n"
        "[    6.083533] [      C0]  unknown_nmi_error+0x77/0xa0\n"
        "[    6.083548] [      C0]  exc_nmi+0x125/0x1a0\n"
        "[    6.083558] [      C0]  end_repeat_nmi+0xf/0x53\n"
        "[    6.083653] [      C0] RIP: 0010:pv_native_safe_halt+0xf/0x20\n"
        "[    6.083998] [      C0] RSP: 0018:ffffffffb8a03e88 EFLAGS: 00000216\n"
        "[    6.084539] [      C0]  ? pv_native_safe_halt+0xf/0x20\n"
        "[    6.084567] [      C0]  </NMI>\n"
        "[    6.084578] [      C0]  <TASK>\n"
        "[    6.084582] [      C0]  default_idle+0x9/0x20\n"
        "[    6.084745] [      C0]  </TASK>\n";

static struct signature *parse(const char *log) {
        struct signature *s;

        ASSERT_EQ_INT(signature_parse(log, strlen(log), &s), 0);
        ASSERT_EQ_INT(signature_finish(s), 0);
        return s;
}

TEST(sysrq_panic) {
        struct signature *s = parse(sysrq_612);

        ASSERT_STREQ(s->panic, "sysrq triggered crash");
        ASSERT_TRUE(s->header == NULL);
        ASSERT_TRUE(s->rip == NULL);
        ASSERT_EQ_INT(s->n_frames, 8);
        ASSERT_STREQ(s->frames[0], "sysrq_handle_crash");
        ASSERT_STREQ(s->frames[1], "__handle_sysrq");
        ASSERT_STREQ(s->frames[6], "do_syscall_64");
        ASSERT_STREQ(s->frames[7], "entry_SYSCALL_64_after_hwframe");
        ASSERT_STREQ(s->taint, "");
        ASSERT_STREQ(s->comm, "sh");
        ASSERT_EQ_INT(s->pid, 154);
        ASSERT_EQ_INT(s->cpu, 0);
        signature_free(s);
}

TEST(same_bug_same_hash) {
        struct signature *a = parse(sysrq_612), *b = parse(sysrq_61), *c = parse(oops_612);

        ASSERT_MEMEQ(a->hash, b->hash, 32);
        ASSERT_TRUE(memcmp(a->hash, c->hash, 32) != 0);
        signature_free(a);
        signature_free(b);
        signature_free(c);
}

TEST(kallsyms_rip_is_shown_not_hashed) {
        struct signature *a = parse(sysrq_612), *b;

        ASSERT_EQ_INT(signature_parse(sysrq_612, strlen(sysrq_612), &b), 0);
        ASSERT_EQ_INT(signature_set_rip(b, "__crash_kexec+0x120/0x140"), 0);
        ASSERT_EQ_INT(signature_finish(b), 0);
        ASSERT_STREQ(b->function, "__crash_kexec");
        ASSERT_TRUE(b->rip_from_kallsyms);
        ASSERT_MEMEQ(a->hash, b->hash, 32);
        signature_free(a);
        signature_free(b);
}

TEST(oops_in_module) {
        struct signature *s = parse(oops_612);

        ASSERT_STREQ(s->panic, "Fatal exception");
        ASSERT_STREQ(s->header, "BUG: kernel NULL pointer dereference, address: 0000000000000000");
        ASSERT_STREQ(s->rip, "kdlab_null+0x15/0x30 [kdlab_crash]");
        ASSERT_STREQ(s->function, "kdlab_null [kdlab_crash]");
        ASSERT_EQ_INT(s->n_frames, 3);
        ASSERT_STREQ(s->frames[0], "kdlab_init [kdlab_crash]");
        ASSERT_STREQ(s->frames[2], "do_init_module");
        ASSERT_STREQ(s->taint, "GOE");
        ASSERT_STREQ(s->modules, "kdlab_crash(OE+) virtio_blk [last unloaded: foo]");
        ASSERT_STREQ(s->reason, "BUG: kernel NULL pointer dereference, address: N | Fatal exception");
        signature_free(s);
}

TEST(nmi_ends_at_the_interrupted_context) {
        struct signature *s = parse(nmi_612);

        ASSERT_STREQ(s->panic, "NMI: Not continuing");
        ASSERT_TRUE(s->rip == NULL);
        ASSERT_EQ_INT(s->n_frames, 3);
        ASSERT_STREQ(s->frames[0], "unknown_nmi_error");
        ASSERT_STREQ(s->frames[2], "end_repeat_nmi");
        ASSERT_EQ_INT(s->pid, 0);
        ASSERT_STREQ(s->comm, "swapper/0");
        signature_free(s);
}

TEST(no_panic_no_frames) {
        struct signature *s = parse("[    0.000000] Linux version 6.12\nhello\n");

        ASSERT_TRUE(s->panic == NULL && s->header == NULL && s->rip == NULL);
        ASSERT_EQ_INT(s->n_frames, 0);
        ASSERT_STREQ(s->reason, "");
        signature_free(s);
}

TEST(normalize) {
        char a[] = "Attempted to kill init! exitcode=0x0000000b", b[] = "WARNING: CPU: 3 PID: 1 at mm/slub.c:123 f+0x1c/0x30",
             c[] = "ext4   i915 dead   beef 12ab  x";

        signature_normalize(a);
        signature_normalize(b);
        signature_normalize(c);
        ASSERT_STREQ(a, "Attempted to kill init! exitcode=N");
        ASSERT_STREQ(b, "WARNING: CPU: N PID: N at mm/slub.c:N f");
        ASSERT_STREQ(c, "ext4 i915 dead beef N x");
}

/* Tokens "\0"-separated; names: [len][token indexes]. */
TEST(kallsyms_expand) {
        static const char tokens[] = "Tsys\0rq_\0crash\0t\0x";
        uint16_t index[256] = { 0 };
        const uint8_t names[] = { 3, 0, 1, 2, 2, 3, 4, 0x81, 0x01 };
        char out[64];
        size_t at = 0;

        index[0] = 0, index[1] = 5, index[2] = 9, index[3] = 15, index[4] = 17;
        ASSERT_EQ_INT(kallsyms_expand(names, sizeof(names), &at, tokens, sizeof(tokens), index, out, sizeof(out)), 0);
        ASSERT_STREQ(out, "sysrq_crash");
        ASSERT_EQ_INT(at, 4);
        ASSERT_EQ_INT(kallsyms_expand(names, sizeof(names), &at, tokens, sizeof(tokens), index, out, sizeof(out)), 0);
        ASSERT_STREQ(out, "x");
        /* a two-byte length of 129 runs past the end */
        ASSERT_EQ_INT(kallsyms_expand(names, sizeof(names), &at, tokens, sizeof(tokens), index, out, sizeof(out)),
                      -EBADMSG);
}
