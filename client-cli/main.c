/*
** main.c — `fieldsync`: global options, the command table, help, dispatch.
**
** Global options --db PATH and --json may come before the command word or
** anywhere after it (args.c accepts them in every command).  Each command
** word (or pair of words, "customer add") maps to one cli_* function that
** returns the process exit code.
*/
#include <locale.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "cli.h"

typedef struct cli_command {
    const char *w1, *w2;    /* command words; w2 NULL for one-word commands */
    cli_cmd_fn fn;
    const char *usage;      /* after "fieldsync " */
    const char *summary;
    const char *example;
} cli_command;

static const cli_command commands[] = {
    {"init", NULL, cli_init,
     "init --server wss://HOST:PORT --token TOKEN [--ca CA.pem] [--force] [--offline]",
     N_("Point this replica at a sync server and run a first sync to check the\n"
     "token and CA.  Refuses (exit 2) to switch a replica holding unsynced\n"
     "changes to a different server unless --force (the changes are kept).\n"
     "--offline saves the settings without connecting.  The first sync also\n"
     "moves photos as `fieldsync photos` says (others' photos ahead of time\n"
     "under `auto`, within its daily budget; your own always)."),
     "fieldsync init --server wss://sync.example.com:7443 --token T0KEN --ca ca.pem"},
    {"customer", "add", cli_customer_add,
     "customer add --name NAME [--phone P] [--email E] [--wechat W] [--company C]\n"
     "       [--title T] [--birthday DATE] [--notes TEXT] [--tags a,b] [--owner USER]\n"
     "       [--stage S] [--cycle DAYS] [--amount NUMBER] [--expected-close DATE]\n"
     "       [--set KEY=VALUE]...",
     N_("Add a customer.  --cycle is the follow-up cycle in days (default 14);\n"
     "--amount is the deal's value (480000 or 480,000.50) and --expected-close\n"
     "the day it should close (2027-03-31, 2027/3/31, fri, 周五);\n"
     "--set fills a custom field (see `fieldsync field list`).  A phone or WeChat\n"
     "id already used by another customer is reported as a warning."),
     "fieldsync customer add --name 张伟 --phone 13800138000 --company 华星科技 --set budget=50000"},
    {"customer", "list", cli_customer_list,
     "customer list [--stage S] [--owner USER] [--search TEXT] [--sort name|next|last|amount]",
     N_("List customers with their next plan and last follow-up.  --search finds\n"
     "name, pinyin or initials (zw finds 张伟), company, phone, WeChat, email,\n"
     "notes, tags and follow-up text.  --sort: name (pinyin, the default), next\n"
     "(next open plan, soonest first), last (last follow-up, longest ago first)\n"
     "or amount (largest first).  Marks: * unsynced changes, ! open conflicts."),
     "fieldsync customer list --search zw --sort next"},
    {"customer", "show", cli_customer_show,
     "customer show ID",
     N_("The whole follow-up sheet: basic info, follow-ups, sales progress, next plans."),
     "fieldsync customer show 3f2a"},
    {"customer", "edit", cli_customer_edit,
     "customer edit ID [--name N] [--phone P] [--email E] [--wechat W] [--company C]\n"
     "       [--title T] [--birthday DATE] [--notes TEXT] [--tags a,b] [--cycle DAYS]\n"
     "       [--amount NUMBER] [--expected-close DATE] [--set KEY=VALUE]...",
     N_("Change the given fields only; an empty value (--phone \"\") clears a field."),
     "fieldsync customer edit 3f2a --title 采购总监 --set budget=80000"},
    {"customer", "delete", cli_customer_delete,
     "customer delete ID", N_("Delete a customer (a tombstone that syncs)."),
     "fieldsync customer delete 3f2a"},
    {"customer", "assign", cli_customer_assign,
     "customer assign ID USER",
     N_("Reassign a customer to another rep (the server checks you are their manager)."),
     "fieldsync customer assign 3f2a wangfang"},
    {"customer", "share", cli_customer_share,
     "customer share ID USER", N_("Share a customer with another user."),
     "fieldsync customer share 3f2a lina"},
    {"customer", "unshare", cli_customer_unshare,
     "customer unshare ID USER", N_("Stop sharing a customer with a user."),
     "fieldsync customer unshare 3f2a lina"},
    {"customer", "release", cli_customer_release,
     "customer release ID [--note TEXT]",
     N_("Put a customer of yours back in the customer pool (公海), where any rep\n"
     "of your team may claim it.  --note says why (kept in its history)."),
     "fieldsync customer release 3f2a --note \"预算冻结，明年再联系\""},
    {"pool", "list", cli_pool_list,
     "pool list [--search TEXT]",
     N_("The customers in your team's pool (公海), with the time each went there.\n"
     "--search as in customer list."),
     "fieldsync pool list --search 华星"},
    {"pool", "claim", cli_pool_claim,
     "pool claim ID",
     N_("Claim a pool customer: it becomes yours at once on this device.  Offline\n"
     "it is a request: if another rep's claim reached the server first, the\n"
     "next sync says who, and the customer leaves your list (follow-ups you\n"
     "logged on it are kept for its new owner).  The server's rules (cooldown\n"
     "for a former owner, claims a day, customers held) may refuse it too."),
     "fieldsync pool claim 3f2a"},
    {"followup", "add", cli_followup_add,
     "followup add ID --method phone|email|visit|wechat|meeting|other --content TEXT\n"
     "       [--result TEXT] [--at TIME] [--photo FILE]... [--location LAT,LON]\n"
     "       [--address TEXT]",
     N_("Record a follow-up with a customer (TIME defaults to now).  --method also\n"
     "takes the words people write for each method:\n"
     "  phone: 电话, 打电话, 电联, call, tel     email: 邮件, 发邮件, e-mail\n"
     "  visit: 上门拜访, 拜访, 上门, 面谈, 走访   wechat: 微信, 企业微信, wx\n"
     "  meeting: 会议, 视频会议, 腾讯会议, zoom  other: 其他, 短信\n"
     "(blanks and a final 。 do not matter).  The confirmation names the customer.\n"
     "--photo FILE (repeatable) attaches a photo: the follow-up syncs at once, the\n"
     "bytes follow separately (resumable; `sync --no-blobs` holds them back).\n"
     "A check-in (拜访签到): --location LAT,LON in decimal degrees (latitude -90..90,\n"
     "longitude -180..180, kept to six decimals) and/or --address TEXT say where\n"
     "the follow-up was written; `customer show` and the dashboard show them."),
     "fieldsync followup add 3f2a --method 上门拜访 --content \"演示了新版本\" --location 31.2304,121.4737 --address \"人民大道200号\""},
    {"followup", "edit", cli_followup_edit,
     "followup edit FOLLOWUP_ID [--method M] [--content T] [--result R] [--at TIME]\n"
     "       [--photo FILE]... [--drop-photo ATTACHMENT_ID]... [--location LAT,LON]\n"
     "       [--address TEXT]",
     N_("Correct a follow-up: only the given fields change (--result \"\" clears it;\n"
     "so do --location \"\" and --address \"\" for a check-in).\n"
     "--photo adds a photo, --drop-photo removes one (history shows both)."),
     "fieldsync followup edit 5d0c --at \"2026-12-01 15:30\" --content \"电话确认了报价\""},
    {"followup", "delete", cli_followup_delete,
     "followup delete FOLLOWUP_ID",
     N_("Delete a follow-up logged by mistake (a tombstone that syncs; history keeps it)."),
     "fieldsync followup delete 5d0c"},
    {"feedback", "add", cli_feedback_add,
     "feedback add ID --content TEXT [--at TIME]",
     N_("Record the customer's own feedback."),
     "fieldsync feedback add 3f2a --content \"希望增加移动端\""},
    {"stage", NULL, cli_stage,
     "stage ID STAGE [--note TEXT]",
     N_("Move a customer to a sales stage (lead, intent, proposal, quote, contract,\n"
     "won, lost or a template's stage).  Moving to lost, or out of won, requires\n"
     "--note.  Asking for the stage the customer is at changes nothing (exit 0)."),
     "fieldsync stage 3f2a quote --note \"报价 48 万\""},
    {"plan", "done", cli_plan_done,
     "plan done PLAN_ID [--result TEXT]",
     N_("Mark a planned follow-up as done, with what came of it."),
     "fieldsync plan done 9c1e --result \"客户同意下周签约\""},
    {"plan", "edit", cli_plan_edit,
     "plan edit PLAN_ID [--at TIME] [--method M] [--content T]",
     N_("Move or reword a planned follow-up: only the given fields change."),
     "fieldsync plan edit 9c1e --at \"周五 10:00\""},
    {"plan", "delete", cli_plan_delete,
     "plan delete PLAN_ID", N_("Delete a planned follow-up (a tombstone that syncs)."),
     "fieldsync plan delete 9c1e"},
    {"plan", NULL, cli_plan,
     "plan ID --at TIME [--method METHOD] [--content TEXT]",
     N_("Plan the next follow-up with a customer.  TIME: YYYY-MM-DD [HH:MM],\n"
     "YYYY/M/D [HH:MM], today, tomorrow, 今天, 明天, 后天, mon..sun or 周一..周日\n"
     "(the next one to come), each with an optional HH:MM.  A day without a\n"
     "time is a plan for that day, shown without a time."),
     "fieldsync plan 3f2a --at \"2026-12-01 10:00\" --method phone --content \"确认报价\""},
    {"today", NULL, cli_today,
     "today [--date DATE]",
     N_("The daily list: plans due and overdue (oldest first), birthdays in the\n"
     "next 7 days, customers whose follow-up cycle has run out, and your\n"
     "customers going back to the pool soon for want of a follow-up (the\n"
     "server's rules).  DATE also takes tomorrow, 明天, fri, 周五 ..."),
     "fieldsync today --date 2026-12-01"},
    {"history", NULL, cli_history,
     "history ID",
     N_("A customer's timeline: who changed what, where, when, and from what\n"
     "(the value the change replaced on the device that made it).  Values\n"
     "written concurrently are marked; a resolution shows the values it settled."),
     "fieldsync history 3f2a"},
    {"conflicts", "resolve", cli_conflicts_resolve,
     "conflicts resolve CONFLICT_ID (--keep mine|theirs | --value VALUE)",
     N_("Settle a conflict on every replica by keeping one side or writing a new value."),
     "fieldsync conflicts resolve 77ab --keep theirs"},
    {"conflicts", NULL, cli_conflicts,
     "conflicts", N_("Open conflicts: both values with author, device and time."),
     "fieldsync conflicts"},
    {"attachment", "get", cli_attachment_get,
     "attachment get ATTACHMENT_ID --out FILE",
     N_("Write a follow-up's photo to FILE, fetching it from the server when it\n"
     "is not on this device yet (fetched bytes must match its SHA-256)."),
     "fieldsync attachment get 9b1e --out shopfront.jpg"},
    {"photos", NULL, cli_photos,
     "photos [auto | manual | budget MB|none]",
     N_("Show or set how this device fetches others' photos (metered links).\n"
     "auto (the default): photos missing here are fetched at each sync, within\n"
     "the daily budget if one is set; manual: only when opened with `attachment\n"
     "get`.  budget MB: at most MB megabytes (1 MB = 1,048,576 bytes) a day\n"
     "fetched ahead of time (a photo that does not fit waits to be opened, or\n"
     "for tomorrow); none removes it.  Your own photos are always sent; only\n"
     "`sync --no-blobs` holds them back.  --json: {\"mode\", \"budget_bytes\",\n"
     "\"day\", \"used_today\", \"left_today\"}."),
     "fieldsync photos budget 50"},
    {"sync", NULL, cli_sync_cmd,
     "sync [--watch] [--no-blobs]",
     N_("Push local changes and pull others' (with --watch: stay connected).\n"
     "Counts the conflicts it opened, as `fieldsync conflicts` lists them, and\n"
     "names each record the server refused.  Photos move after the records, in\n"
     "chunks that resume after a cut: yours are sent, others' fetched as\n"
     "`fieldsync photos` allows (a daily budget, or only when opened);\n"
     "--no-blobs moves records only (`attachment get` fetches one photo when\n"
     "it is opened).  With --watch, photos named by live changes move too."),
     "fieldsync sync"},
    {"export", NULL, cli_export,
     "export [--format csv|json] [--out FILE] [--followups]",
     N_("Export customers: CSV for Excel (UTF-8 with BOM, CRLF) or JSON.  With\n"
     "--followups, every follow-up instead, with Chinese headers (编号 客户编号\n"
     "客户 公司 跟进时间 跟进方式 跟进内容 跟进结果 跟进人).  A cell Excel would\n"
     "run as a formula (= + - @ first) gets a leading ' that import removes."),
     "fieldsync export --format csv --out customers.csv"},
    {"import", NULL, cli_import,
     "import FILE [--skip-invalid] [--followups]",
     N_("Import customers from CSV (UTF-8 or GB18030; English or Chinese headers)\n"
     "or from an exported JSON file.  A row updates the customer with its id,\n"
     "or else with its phone or WeChat id (each match is reported), so a\n"
     "sheet imported twice is not doubled; other rows create customers; empty\n"
     "cells leave a field unchanged.  A follow-up sheet (跟进内容 column, or\n"
     "--followups) adds follow-ups to the customers it names.  Nothing is\n"
     "written if any row is invalid, unless --skip-invalid."),
     "fieldsync import customers.csv"},
    {"field", "add", cli_field_add,
     "field add KEY --label L [--label-zh L] --type text|number|date|choice|phone|email\n"
     "       [--choices a,b]",
     N_("Define a custom customer field (set it with --set KEY=VALUE)."),
     "fieldsync field add budget --label Budget --label-zh 预算 --type number"},
    {"field", "list", cli_field_list,
     "field list", N_("List custom field definitions."), "fieldsync field list"},
    {"template", "apply", cli_template_apply,
     "template apply NAME",
     N_("Apply a business template (custom fields and stages): software, logistics,\n"
     "design, ... read from $FIELDSYNC_TEMPLATES or the installed templates.\n"
     "Managers and admins only: a device that synced as a rep's refuses (exit 5)."),
     "fieldsync template apply software"},
};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

static void print_command_help(const cli_command *c)
{
    /* TRANSLATORS: %1$s is the command's syntax (not translated), %2$s
       its description, %3$s an example command line. */
    printf(_("Usage: fieldsync %1$s\n\n%2$s\n\nGlobal options: --db PATH, --json, --help\n\n"
             "Example:\n  %3$s\n"), c->usage, _(c->summary), c->example);
}

static void print_overview(FILE *f)
{
    fputs(_("Usage: fieldsync [--db PATH] [--json] COMMAND [ARGS]\n\n"
            "The rep's customer follow-up sheet, offline first.\n\nCommands:\n"), f);
    for (size_t i = 0; i < NCOMMANDS; i++) {
        const char *u = commands[i].usage;
        size_t n = strcspn(u, "\n");
        fprintf(f, "  fieldsync %.*s\n", (int)n, u);
    }
    fputs("  fieldsync help [COMMAND]\n\n", f);
    fputs(_("Replica: --db PATH, else $FIELDSYNC_DB, else "
            "$XDG_DATA_HOME/fieldsync/replica.db.\n"
            "Exit codes: 0 ok, 1 failure, 2 usage or invalid input, 3 not found,\n"
            "4 server unreachable, 5 authentication or permission refused.\n\n"
            "Example:\n"), f);
    fputs("  fieldsync customer add --name 张伟 --phone 13800138000\n", f);
}

static int is_global(const char *s)
{
    return strcmp(s, "--json") == 0 || strcmp(s, "--db") == 0 ||
           strncmp(s, "--db=", 5) == 0;
}

/* The command for words w1 [w2]; *used2 says whether w2 was consumed.
** NULL with *group set when w1 names a group that needs a second word. */
static const cli_command *lookup(const char *w1, const char *w2, int *used2,
                                 int *group)
{
    *used2 = 0;
    *group = 0;
    const cli_command *single = NULL;
    for (size_t i = 0; i < NCOMMANDS; i++) {
        const cli_command *c = &commands[i];
        if (strcmp(c->w1, w1) != 0) continue;
        if (!c->w2) { single = c; continue; }
        *group = 1;
        if (w2 && strcmp(c->w2, w2) == 0) { *used2 = 1; return c; }
    }
    return single;
}

static int help_for(int argc, char **argv)
{
    if (argc == 0) { print_overview(stdout); return CLI_OK; }
    int used2, group;
    const cli_command *c = lookup(argv[0], argc > 1 ? argv[1] : NULL, &used2,
                                  &group);
    if (c) { print_command_help(c); return CLI_OK; }
    if (group) {
        fputs(_("Usage:\n"), stdout);
        for (size_t i = 0; i < NCOMMANDS; i++)
            if (strcmp(commands[i].w1, argv[0]) == 0)
                printf("  fieldsync %s\n", commands[i].usage);
        return CLI_OK;
    }
    return cli_fail(NULL, CLI_USAGE, _("help: unknown command \"%s\""), argv[0]);
}

int main(int argc, char **argv)
{
    cli_i18n_init();
    umask(077);     /* replica, exports: readable by the owner only */

    cli_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    int help = 0, i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "--json") == 0) ctx.json = 1;
        else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) help = 1;
        else if (strncmp(argv[i], "--db=", 5) == 0) ctx.db_path = argv[i] + 5;
        else if (strcmp(argv[i], "--db") == 0) {
            if (i + 1 >= argc) {
                return cli_fail(NULL, CLI_USAGE, _("--db needs a PATH"));
            }
            ctx.db_path = argv[++i];
        }
        else if (strcmp(argv[i], "--version") == 0) {
            printf("fieldsync 0.1.0\n");
            return CLI_OK;
        } else {
            return cli_fail(NULL, CLI_USAGE,
                            _("unknown option %s (see fieldsync --help)"), argv[i]);
        }
    }
    if (i >= argc) {
        print_overview(help ? stdout : stderr);
        return help ? CLI_OK : CLI_USAGE;
    }
    if (strcmp(argv[i], "help") == 0)
        return help_for(argc - i - 1, argv + i + 1);

    /* The second command word may follow global options. */
    int j = i + 1;
    while (j < argc && is_global(argv[j]))
        j += strcmp(argv[j], "--db") == 0 ? 2 : 1;
    int used2, group;
    const cli_command *c = lookup(argv[i], j < argc ? argv[j] : NULL, &used2,
                                  &group);

    /* Remaining arguments for the command, without the consumed words. */
    char **sub = calloc((size_t)argc + 1, sizeof *sub);
    if (!sub) return cli_fail(NULL, CLI_FAIL, _("out of memory"));
    int nsub = 0;
    for (int k = i + 1; k < argc; k++) {
        if (used2 && k == j) continue;
        if (strcmp(argv[k], "--") == 0) {
            while (k < argc) sub[nsub++] = argv[k++];
            break;
        }
        if (strcmp(argv[k], "--help") == 0 || strcmp(argv[k], "-h") == 0) help = 1;
        sub[nsub++] = argv[k];
    }

    int rc;
    if (!c && group) {
        char *words[1] = { argv[i] };
        if (help) rc = help_for(1, words);
        else {
            if (j < argc)
                /* TRANSLATORS: %1$s is a command group ("customer"), %2$s
                   the word that followed it. */
                rc = cli_fail(NULL, CLI_USAGE,
                              _("%1$s: missing or unknown subcommand \"%2$s\" "
                                "(see fieldsync help %1$s)"), argv[i], argv[j]);
            else
                rc = cli_fail(NULL, CLI_USAGE,
                              _("%1$s: missing or unknown subcommand "
                                "(see fieldsync help %1$s)"), argv[i]);
        }
    } else if (!c) {
        rc = cli_fail(NULL, CLI_USAGE,
                      _("unknown command \"%s\" (see fieldsync --help)"), argv[i]);
    } else if (help) {
        print_command_help(c);
        rc = CLI_OK;
    } else {
        char name[64];
        snprintf(name, sizeof name, "%s%s%s", c->w1, c->w2 ? " " : "",
                 c->w2 ? c->w2 : "");
        ctx.cmd = name;
        /* Colour only for a terminal, and never when NO_COLOR is set. */
        ctx.color = isatty(STDOUT_FILENO) && !getenv("NO_COLOR") && !ctx.json;
        rc = c->fn(&ctx, nsub, sub);
        cli_close(&ctx);
        ctx.cmd = NULL;
    }
    free(sub);
    if (fflush(stdout) != 0 && rc == CLI_OK) {
        rc = cli_fail(NULL, CLI_FAIL, _("cannot write output"));
    }
    return rc;
}
