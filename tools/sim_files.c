/*
 * sim_files.c: the `files` scenario, after the original TreeShareNet demo:
 * every node shares cfg.files_per_node files whose titles are two or three
 * words from a small list plus an extension (the list grows with compounds
 * of its words, "terrapins", so that a word is in about FILES_PER_WORD
 * files: at 10,000 nodes 50 words would put 1,000 files under each, past
 * what a node keeps per keyword, and no search could be complete); sizes are log-uniform from
 * 16 KiB to 8 MiB. A file is a manifest chunk and one chunk per 256 KiB,
 * all abstract (sim_chunks.c), placed at the r closest nodes by lookups
 * from the owner. Then random live nodes fetch random files (cfg.fetches,
 * cfg.rate per second): the manifest first, then up to 4 chunks at a time;
 * each chunk is a real lookup of its id, then a transfer from the first
 * live holder the lookup named: one round trip plus the holder's uplink
 * time (--bandwidth). Fetch hops = the most rounds any of its lookups
 * needed to reach a holder. Before the fetches every file's keyword
 * records are put by its owner; after them, random live nodes search
 * (cfg.searches; sim_search.c). The cores keep a keyword's entries as a
 * real node does (max_get_records = TSN_SEARCH_HITS_MAX).
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "search.h"
#include "sim_i.h"

#define CHUNK_BYTES (256u * 1024)
#define PARALLEL 4

static const char *const words[] = {
	"terra", "pins", "river", "stone", "cloud", "ember", "north", "delta", "maple", "quartz",
	"harbor", "lumen", "orbit", "sable", "tide", "willow", "cedar", "drift", "echo", "fable",
	"glade", "haven", "iris", "jade", "kite", "lotus", "meadow", "nova", "opal", "pine",
	"quill", "raven", "sierra", "thistle", "umber", "vale", "wren", "yarrow", "zephyr", "amber",
	"birch", "coral", "dune", "fern", "grove", "hollow", "isle", "juniper", "lark", "moss",
};
#define NWORDS (sizeof(words) / sizeof(words[0]))
#define FILES_PER_WORD 100
#define VOCAB_MAX (NWORDS * NWORDS)
static const char *const exts[] = {"mp3", "ogg", "flac", "txt", "pdf", "jpg", "png", "mkv", "mp4", "zip"};

struct sf_file {
	char title[64];
	uint32_t owner;
	uint64_t size;
	uint32_t first, n;        /* its chunks: [first, first + n), manifest first */
};

struct sim_files {
	struct sim *s;
	struct sim_report *rep;
	struct sf_file *files;
	uint32_t nfiles;
	struct sim_chunk *chunks;
	uint32_t nchunks;
	unsigned started, finished, count;
	bool all_done;
	struct sim_doc *docs;     /* the files, as search sees them */
	struct sim_search *ss;
	uint32_t *res, nres;      /* the last search's results (files) */
	bool place;               /* place the chunks (something may fetch them) */
};

struct sf_fetch;

struct sf_slot {
	struct sim_op op;
	struct sf_fetch *ft;
	uint32_t chunk;           /* index within the file */
	uint32_t holder;
};

struct sf_fetch {
	struct sim_files *f;
	uint32_t file, from;
	uint64_t start, end;
	uint32_t next;            /* next chunk to start */
	unsigned active, hops, msgs, lookups;
	bool failed, done;
	void (*on_done)(struct sf_fetch *ft);  /* NULL: the caller waits on done */
	unsigned idx;                          /* the batch's */
	struct sf_slot slot[PARALLEL];
};

static void slot_start(struct sim *s, struct sf_slot *sl);

static void
fetch_end(struct sf_fetch *ft)
{
	ft->done = true;
	ft->end = ft->f->s->now;
	for (unsigned i = 0; i < PARALLEL; i++)
		sim_op_clear(&ft->slot[i].op);
	if (ft->on_done != NULL)
		ft->on_done(ft);
}

/* Give the slot the next chunk, or retire it. */
static void
slot_next(struct sim *s, struct sf_slot *sl)
{
	struct sf_fetch *ft = sl->ft;

	if (!ft->failed && ft->next < ft->f->files[ft->file].n) {
		sl->chunk = ft->next++;
		slot_start(s, sl);
		return;
	}
	if (--ft->active == 0)
		fetch_end(ft);
}

static void
chunk_arrived(struct sim *s, void *p, uint32_t arg)
{
	struct sf_slot *sl = p;
	struct sf_fetch *ft = sl->ft;

	(void)arg;
	if (sl->chunk == 0 && !ft->failed) { /* manifest read: the others may start */
		for (unsigned i = 1; i < PARALLEL && ft->next < ft->f->files[ft->file].n; i++) {
			ft->active++;
			ft->slot[i].ft = ft;
			ft->slot[i].chunk = ft->next++;
			slot_start(s, &ft->slot[i]);
		}
	}
	slot_next(s, sl);
}

static void
lookup_done(struct sim *s, struct sim_op *op)
{
	struct sf_slot *sl = op->ud;
	struct sf_fetch *ft = sl->ft;
	const struct sf_file *fl = &ft->f->files[ft->file];
	const struct sim_chunk *c = &ft->f->chunks[fl->first + sl->chunk];
	unsigned hops = 0;

	ft->lookups++;
	ft->msgs += op->msgs;
	sl->holder = UINT32_MAX;
	for (size_t j = 0; j < op->nres && sl->holder == UINT32_MAX; j++)
		for (unsigned h = 0; h < c->nh; h++)
			if (c->holders[h] == op->res[j] && sim_node_is_up(s, op->res[j]))
				sl->holder = op->res[j];
	if (sl->holder == UINT32_MAX) {
		ft->failed = true;
		slot_next(s, sl);
		return;
	}
	hops = sim_op_round_of(op, sl->holder);
	if (hops > ft->hops)
		ft->hops = hops;
	sim_task(s, s->now + sim_net_transfer_ms(s, sl->holder, ft->from, c->bytes), chunk_arrived,
	         sl, 0);
}

static void
retry_task(struct sim *s, void *p, uint32_t arg)
{
	(void)arg;
	slot_start(s, p);
}

static void
slot_start(struct sim *s, struct sf_slot *sl)
{
	struct sf_fetch *ft = sl->ft;
	const struct sim_chunk *c = &ft->f->chunks[ft->f->files[ft->file].first + sl->chunk];
	uint8_t id[TSN_ID_LEN];
	int rc;

	for (unsigned h = 0; h < c->nh; h++) {
		if (c->holders[h] == ft->from) { /* it holds a copy: read it locally */
			sim_task(s, s->now, chunk_arrived, sl, 0);
			return;
		}
	}
	memcpy(id, c->id, TSN_ID_LEN);
	rc = sim_op_start(s, &sl->op, SIM_OP_LOOKUP, ft->from, id, NULL, lookup_done, sl);
	if (rc == -EAGAIN) { /* the node's max_ops: the same chunk again in 100 ms */
		sim_task(s, s->now + 100, retry_task, sl, 0);
		return;
	}
	if (rc != 0) {
		ft->failed = true;
		slot_next(s, sl);
	}
}

/* Start fetching file from node `from`; ft is the caller's until ft->done. */
static void
fetch_start(struct sim_files *f, struct sf_fetch *ft, uint32_t file, uint32_t from,
            void (*on_done)(struct sf_fetch *), unsigned idx)
{
	memset(ft, 0, sizeof(*ft));
	ft->f = f;
	ft->on_done = on_done;
	ft->idx = idx;
	ft->file = file;
	ft->from = from;
	ft->start = f->s->now;
	ft->active = 1;
	ft->slot[0].ft = ft;
	ft->slot[0].chunk = ft->next++;
	slot_start(f->s, &ft->slot[0]);
}

static void
fetch_record(struct sim_files *f, const struct sf_fetch *ft, unsigned id)
{
	bool ok = !ft->failed;

	sim_report_count(f->rep, "fetch", ok);
	sim_report_add(f->rep, "fetch", "fetch.time_ms", (double)(ft->end - ft->start));
	sim_report_add(f->rep, "fetch", "fetch.hops", ft->hops);
	sim_report_add(f->rep, "fetch", "fetch.msgs", ft->msgs);
	sim_report_row(f->rep, "fetch", id, ft->from, ft->start, ft->end - ft->start, ft->lookups,
	               ft->hops, ft->msgs, ok, ft->file + 1);
}

int
sim_files_fetch_one(struct sim_files *f, uint32_t file, uint32_t from, FILE *out)
{
	struct sf_fetch *ft = malloc(sizeof(*ft));
	const struct sf_file *fl = &f->files[file];

	if (ft == NULL)
		return -ENOMEM;
	fetch_start(f, ft, file, from, NULL, 0);
	if (!sim_run_until_set(f->s, &ft->done, f->s->now + 3600u * 1000)) {
		fprintf(stderr, "tsn-sim: a fetch did not finish in virtual time\n");
		exit(1); /* the cores broke their deadlines: a bug, not a figure */
	}
	fprintf(out, "g %u: \"%s\" (%.1f KiB, %u chunks) fetched by node %u: %s in %llu ms "
	        "virtual, hops %u (most over %u lookups), %u messages\n", file + 1, fl->title,
	        (double)fl->size / 1024.0, fl->n, from, ft->done && !ft->failed ? "ok" : "FAILED",
	        (unsigned long long)(ft->end - ft->start), ft->hops, ft->lookups, ft->msgs);
	free(ft);
	return 0;
}

int
sim_files_search(struct sim_files *f, const char *words_in, FILE *out)
{
	struct sim *s = f->s;
	struct sim_search_out o;
	char first[48];
	uint32_t from = sim_random_up(s, &s->rng_work);
	int rc;

	while (*words_in == ' ' || *words_in == '\t')
		words_in++;
	if (from == UINT32_MAX) {
		fprintf(out, "no live node left to search from\n");
		return -ENETDOWN;
	}
	rc = sim_search_one(f->ss, from, words_in, &o);
	if (rc == -EINVAL) {
		fprintf(out, "s WORDS: one to %u words of %u characters or more\n",
		        SIM_SEARCH_WORDS_MAX, TSN_KW_MIN);
		return rc;
	}
	if (rc != 0)
		return rc;
	free(f->res);
	f->res = o.docs;
	f->nres = (uint32_t)o.n;
	if (o.n > 0)
		snprintf(first, sizeof(first), "first result %llu ms", (unsigned long long)o.first_ms);
	else
		snprintf(first, sizeof(first), "no result");
	fprintf(out, "s %s: %zu result%s by node %u in %llu ms virtual (%s), hops %u, "
	        "%u messages, %u word%s; %s (%zu file%s hold%s every word)\n", words_in, o.n,
	        o.n == 1 ? "" : "s", from, (unsigned long long)o.last_ms, first, o.hops, o.msgs,
	        o.words, o.words == 1 ? "" : "s",
	        o.ok ? "complete" : "INCOMPLETE", o.truth, o.truth == 1 ? "" : "s",
	        o.truth == 1 ? "s" : "");
	for (uint32_t i = 0; i < f->nres; i++) {
		const struct sf_file *fl = &f->files[f->res[i]];
		fprintf(out, "%5u  %-40s %9.1f KiB  (file %u)\n", i + 1, fl->title,
		        (double)fl->size / 1024.0, f->res[i] + 1);
	}
	if (f->nres > 0)
		fprintf(out, "g N now fetches result N (1 to %u); l goes back to file numbers\n",
		        f->nres);
	return 0;
}

uint32_t
sim_files_nresults(const struct sim_files *f)
{
	return f->nres;
}

uint32_t
sim_files_result(const struct sim_files *f, uint32_t i)
{
	return f->res[i];
}

uint32_t
sim_files_count(const struct sim_files *f)
{
	return f->nfiles;
}

struct sim *
sim_files_world(struct sim_files *f)
{
	return f->s;
}

void
sim_files_describe(const struct sim_files *f, uint32_t file, char *buf, size_t cap)
{
	const struct sf_file *fl = &f->files[file];

	snprintf(buf, cap, "%5u  %-40s %9.1f KiB %3u chunks  node %u", file + 1, fl->title,
	         (double)fl->size / 1024.0, fl->n, fl->owner);
}

/* ---- the batch of fetches ---- */

struct sf_batch {
	struct sim_files *f;
	struct sf_fetch *ft;
};

static void
batch_done(struct sf_fetch *ft)
{
	struct sim_files *f = ft->f;

	fetch_record(f, ft, ft->idx);
	if (++f->finished == f->count)
		f->all_done = true;
}

static void
batch_start(struct sim *s, void *p, uint32_t j)
{
	struct sf_batch *B = p;
	uint32_t from = sim_random_up(s, &s->rng_work);
	uint32_t file = (uint32_t)sim_rng_below(&s->rng_work, B->f->nfiles);

	fetch_start(B->f, &B->ft[j], file, from, batch_done, j);
}

static int
make_files(struct sim_files *f)
{
	struct sim *s = f->s;
	uint32_t per = s->cfg.files_per_node, nc = 0;

	uint64_t vocab;

	f->nfiles = s->n * per;
	f->files = calloc(f->nfiles ? f->nfiles : 1, sizeof(f->files[0]));
	if (f->files == NULL)
		return -ENOMEM;
	/* 2.5 title words per file on average */
	vocab = (uint64_t)f->nfiles * 5 / 2 / FILES_PER_WORD;
	vocab = vocab < NWORDS ? NWORDS : vocab > VOCAB_MAX ? VOCAB_MAX : vocab;
	for (uint32_t i = 0; i < f->nfiles; i++) {
		struct sf_file *fl = &f->files[i];
		unsigned nw = 2 + (unsigned)sim_rng_below(&s->rng_work, 2), pick[3];
		size_t len = 0;
		for (unsigned w = 0; w < nw; w++) {
			bool again;
			do { /* distinct words */
				pick[w] = (unsigned)sim_rng_below(&s->rng_work, vocab);
				again = false;
				for (unsigned x = 0; x < w; x++)
					again |= pick[x] == pick[w];
			} while (again);
			len += (size_t)snprintf(fl->title + len, sizeof(fl->title) - len, "%s%s%s",
			                        w ? " " : "", words[pick[w] % NWORDS],
			                        pick[w] < NWORDS ? "" : words[pick[w] / NWORDS]);
		}
		snprintf(fl->title + len, sizeof(fl->title) - len, ".%s",
		         exts[sim_rng_below(&s->rng_work, sizeof(exts) / sizeof(exts[0]))]);
		fl->owner = i / per;
		fl->size = (uint64_t)exp(log(16384.0) + sim_rng_unit(&s->rng_work) * log(512.0));
		fl->first = nc;
		fl->n = 1 + (uint32_t)((fl->size + CHUNK_BYTES - 1) / CHUNK_BYTES);
		nc += fl->n;
	}
	f->nchunks = nc;
	f->chunks = calloc(nc ? nc : 1, sizeof(f->chunks[0]));
	if (f->chunks == NULL)
		return -ENOMEM;
	for (uint32_t i = 0; i < f->nfiles; i++) {
		const struct sf_file *fl = &f->files[i];
		for (uint32_t c = 0; c < fl->n; c++) {
			struct sim_chunk *ch = &f->chunks[fl->first + c];
			uint64_t left = c == 0 ? 0 : fl->size - (uint64_t)(c - 1) * CHUNK_BYTES;
			sim_rng_bytes(&s->rng_work, ch->id, TSN_ID_LEN);
			ch->owner = fl->owner;
			/* manifest: ~100 bytes per chunk entry */
			ch->bytes = c == 0 ? 256 + 100 * fl->n
			                   : (uint32_t)(left < CHUNK_BYTES ? left : CHUNK_BYTES);
		}
	}
	return 0;
}

static int
run(struct sim_files *f, FILE *out)
{
	struct sim *s = f->s;
	struct sf_batch B = {.f = f};
	unsigned exact;
	int rc;

	if ((rc = make_files(f)) != 0)
		return rc;
	if (f->place) {
		if ((rc = sim_chunks_place(s, f->rep, f->chunks, f->nchunks, s->cfg.replicas,
		                           &exact)) != 0)
			return rc;
		fprintf(out, "files: %u (%u per node), %u chunks placed at r = %u (%.2f%% at the true "
		        "r closest); e.g. \"%s\"\n", f->nfiles, s->cfg.files_per_node, f->nchunks,
		        s->cfg.replicas, f->nchunks ? 100.0 * exact / f->nchunks : 0,
		        f->files[0].title);
	} else { /* ~7 lookups per file: most of a 10,000-node run's time */
		fprintf(out, "files: %u (%u per node), %u chunks not placed (no fetch, no prompt); "
		        "e.g. \"%s\"\n", f->nfiles, s->cfg.files_per_node, f->nchunks,
		        f->files[0].title);
	}
	if ((f->docs = calloc(f->nfiles ? f->nfiles : 1, sizeof(f->docs[0]))) == NULL)
		return -ENOMEM;
	for (uint32_t i = 0; i < f->nfiles; i++) /* root id: the manifest's */
		f->docs[i] = (struct sim_doc){.title = f->files[i].title, .owner = f->files[i].owner,
		                              .size = f->files[i].size,
		                              .root = f->chunks[f->files[i].first].id};
	if ((rc = sim_search_new(&f->ss, s, f->docs, f->nfiles)) != 0 ||
	    (rc = sim_search_publish(f->ss, f->rep, out)) != 0)
		return rc;
	s->t_measure = s->now;
	f->count = s->cfg.fetches;
	f->all_done = f->count == 0;
	B.ft = calloc(f->count ? f->count : 1, sizeof(B.ft[0]));
	if (B.ft == NULL)
		return -ENOMEM;
	for (unsigned j = 0; j < f->count; j++)
		sim_task(s, s->now + (uint64_t)((double)j * 1000.0 / s->cfg.rate), batch_start, &B, j);
	fprintf(out, "fetches: %u of random files by random live nodes, %.0f per second\n",
	        f->count, s->cfg.rate);
	if (!sim_run_until_set(s, &f->all_done, s->now + 24u * 3600 * 1000)) {
		fprintf(stderr, "tsn-sim: fetches did not finish in virtual time\n");
		exit(1); /* the cores broke their deadlines: a bug, not a figure */
	}
	free(B.ft);
	return sim_search_batch(f->ss, f->rep, s->cfg.searches, out);
}

int
sim_scen_files(const struct sim_cfg *cfg, struct sim_report *rep, FILE *out, FILE *in)
{
	struct sim_files f = {.rep = rep};
	bool tty = isatty(fileno(in)) != 0;
	int rc;

	f.place = cfg->fetches > 0 || cfg->interactive || tty;
	sim_report_mark(rep);
	sim_print_header(cfg, out, "files");
	if ((rc = sim_new(&f.s, cfg, out)) != 0)
		goto done;
	f.s->dopts.max_get_records = TSN_SEARCH_HITS_MAX; /* as net/node.c: a keyword's entries */
	if ((rc = sim_build(f.s)) != 0)
		goto done;
	sim_report_built(rep);
	if ((rc = run(&f, out)) != 0)
		goto done;
	sim_report_table(rep, out);
	sim_print_net(f.s, out);
	sim_report_wall(rep, out, "files", f.s->n);
	if (cfg->interactive || tty)
		rc = sim_prompt(&f, in, out, tty);
done:
	if (rc != 0)
		fprintf(stderr, "tsn-sim: files: %s\n", strerror(-rc));
	sim_free(f.s);
	sim_search_free(f.ss);
	free(f.docs);
	free(f.res);
	free(f.files);
	free(f.chunks);
	return rc;
}
