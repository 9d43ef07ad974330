/*
 * PhoneSync.java — what an Android app does with libfieldsync, in plain
 * Java 17: the core through JNA (no JNI code of ours), the sync session
 * carried over the platform's own WebSocket client (java.net.http, as an
 * app would use OkHttp), TLS with the server's CA pinned.
 *
 *   java -cp jna.jar:classes PhoneSync LIB REPLICA URL TOKEN CA_PEM write NAME NOTE
 *   java -cp jna.jar:classes PhoneSync LIB REPLICA URL TOKEN CA_PEM read
 *
 * write: open (creating) the replica, add customer NAME with a phone
 *        follow-up NOTE, sync; prints {"customer":..,"followup":..,"stats":..}
 * read:  open the replica, sync; prints {"customers":[sheet, ...],"stats":..}
 * Exit 0 on success; 1 with one line on stderr naming what failed.
 *
 * Only the JSON text entry points of fieldsync.h are used, so nothing of
 * jansson crosses the boundary; every char* the library returns is
 * released with fds_free (docs/EMBEDDING.md, "Ownership").
 */
import com.sun.jna.Library;
import com.sun.jna.Native;
import com.sun.jna.NativeLong;
import com.sun.jna.Pointer;
import com.sun.jna.ptr.NativeLongByReference;
import com.sun.jna.ptr.PointerByReference;

import java.io.FileInputStream;
import java.io.InputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.WebSocket;
import java.nio.charset.StandardCharsets;
import java.security.KeyStore;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;

public final class PhoneSync {
    /* fieldsync.h, as JNA sees it.  size_t is NativeLong: the same width
     * as size_t on Linux and Android, 32- and 64-bit alike. */
    public interface Fds extends Library {
        int FDS_OK = 0, FDS_DONE = 10;
        int HANDSHAKE = 0, SYNCING = 1, IDLE = 2, FAILED = 3;

        String fds_errstr(int rc);
        int fds_replica_open(String path, Pointer env, PointerByReference out,
                             byte[] errbuf, NativeLong errlen);
        void fds_replica_close(Pointer r);
        String fds_errmsg(Pointer r);
        void fds_free(Pointer p);
        int fds_customer_add_text(Pointer r, String in, PointerByReference out,
                                  PointerByReference warnings);
        int fds_followup_add_text(Pointer r, String customer, String in,
                                  PointerByReference out);
        int fds_customer_list_text(Pointer r, String query, PointerByReference out);
        int fds_customer_sheet_text(Pointer r, String id, PointerByReference out);

        int fds_session_new(Pointer r, PointerByReference out);
        void fds_session_free(Pointer s);
        int fds_session_next(Pointer s, PointerByReference buf, NativeLongByReference len);
        int fds_session_feed(Pointer s, byte[] buf, NativeLong len);
        int fds_session_state(Pointer s);
        String fds_session_errmsg(Pointer s);
        Pointer fds_session_stats_text(Pointer s);
    }

    static final class Failure extends Exception {
        private static final long serialVersionUID = 1L;
        Failure(String m) { super(m); }
    }

    private static Fds fds;

    /* Take a char* result: copy it into a Java string, then fds_free it. */
    private static String take(Pointer p) {
        if (p == null) return null;
        try {
            return p.getString(0, "UTF-8");
        } finally {
            fds.fds_free(p);
        }
    }

    private static void check(Pointer r, int rc, String what) throws Failure {
        if (rc != Fds.FDS_OK)
            throw new Failure(what + ": " + fds.fds_errstr(rc) + ": " + fds.fds_errmsg(r));
    }

    /* A TLS context that trusts the server's CA (ca.pem) and nothing else. */
    static SSLContext pinned(String caPem) throws Exception {
        CertificateFactory cf = CertificateFactory.getInstance("X.509");
        KeyStore ks = KeyStore.getInstance(KeyStore.getDefaultType());
        ks.load(null, null);
        int i = 0;
        try (InputStream in = new FileInputStream(caPem)) {
            for (Certificate c : cf.generateCertificates(in))
                ks.setCertificateEntry("fieldsync-ca-" + i++, c);
        }
        if (i == 0) throw new Failure("no certificate in " + caPem);
        TrustManagerFactory tmf =
            TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        tmf.init(ks);
        SSLContext ctx = SSLContext.getInstance("TLS");
        ctx.init(null, tmf.getTrustManagers(), null);
        return ctx;
    }

    /* Whole received messages, in order; a close or an error ends the queue. */
    static final class Inbox implements WebSocket.Listener {
        static final String CLOSED = new String("closed");
        final LinkedBlockingQueue<String> q = new LinkedBlockingQueue<>();
        final StringBuilder part = new StringBuilder();
        volatile String why = "";

        @Override public void onOpen(WebSocket ws) { ws.request(1); }

        @Override
        public CompletionStage<?> onText(WebSocket ws, CharSequence data, boolean last) {
            part.append(data);
            if (last) {
                q.add(part.toString());
                part.setLength(0);
            }
            ws.request(1);
            return null;
        }

        @Override
        public CompletionStage<?> onBinary(WebSocket ws, java.nio.ByteBuffer data, boolean last) {
            why = "unexpected binary message";
            q.add(CLOSED);
            return null;
        }

        @Override
        public CompletionStage<?> onClose(WebSocket ws, int code, String reason) {
            why = "server closed the connection (" + code + " " + reason + ")";
            q.add(CLOSED);
            return null;
        }

        @Override public void onError(WebSocket ws, Throwable e) {
            why = "connection failed: " + e;
            q.add(CLOSED);
        }
    }

    /* One sync: the session loop of fieldsync.h over a platform WebSocket.
     * It only loops next/feed until the session says idle, so whatever the
     * session grows to say (re-hello after a device reset, re-sends after a
     * server restore) is carried without this code knowing. */
    static String sync(Pointer r, String url, String token, String ca) throws Exception {
        HttpClient http = HttpClient.newBuilder()
            .sslContext(pinned(ca))
            .connectTimeout(Duration.ofSeconds(10))
            .build();
        Inbox inbox = new Inbox();
        WebSocket ws;
        try {
            ws = http.newWebSocketBuilder()
                .subprotocols("fieldsync.v1")
                .header("Authorization", "Bearer " + token)
                .connectTimeout(Duration.ofSeconds(10))
                .buildAsync(URI.create(url), inbox)
                .get(20, TimeUnit.SECONDS);
        } catch (java.util.concurrent.ExecutionException e) {
            /* The server answers a refused token with an HTTP status
             * instead of the upgrade: say which (the CLI exits 5 there). */
            if (e.getCause() instanceof java.net.http.WebSocketHandshakeException)
                throw new Failure("server refused the connection: HTTP "
                    + ((java.net.http.WebSocketHandshakeException) e.getCause())
                          .getResponse().statusCode());
            throw new Failure("cannot connect to " + url + ": " + e.getCause());
        }
        if (!"fieldsync.v1".equals(ws.getSubprotocol()))
            throw new Failure("server did not accept subprotocol fieldsync.v1");

        PointerByReference sref = new PointerByReference();
        check(r, fds.fds_session_new(r, sref), "session");
        Pointer s = sref.getValue();
        try {
            PointerByReference buf = new PointerByReference();
            NativeLongByReference len = new NativeLongByReference();
            for (;;) {
                int rc;
                while ((rc = fds.fds_session_next(s, buf, len)) == Fds.FDS_OK) {
                    Pointer p = buf.getValue();
                    byte[] msg = p.getByteArray(0, (int) len.getValue().longValue());
                    fds.fds_free(p);
                    ws.sendText(new String(msg, StandardCharsets.UTF_8), true)
                      .get(30, TimeUnit.SECONDS);
                }
                if (rc != Fds.FDS_DONE)
                    throw new Failure("session next: " + fds.fds_errstr(rc) + ": "
                                      + fds.fds_session_errmsg(s));
                int state = fds.fds_session_state(s);
                if (state == Fds.IDLE) break;
                if (state == Fds.FAILED)
                    throw new Failure("sync failed: " + fds.fds_session_errmsg(s));
                String in = inbox.q.poll(30, TimeUnit.SECONDS);
                if (in == null) throw new Failure("no message from the server in 30 s");
                if (in == Inbox.CLOSED) throw new Failure(inbox.why);
                byte[] b = in.getBytes(StandardCharsets.UTF_8);
                rc = fds.fds_session_feed(s, b, new NativeLong(b.length));
                if (rc != Fds.FDS_OK)
                    throw new Failure("sync: " + fds.fds_errstr(rc) + ": "
                                      + fds.fds_session_errmsg(s));
            }
            String stats = take(fds.fds_session_stats_text(s));
            ws.sendClose(WebSocket.NORMAL_CLOSURE, "").get(10, TimeUnit.SECONDS);
            return stats;
        } finally {
            fds.fds_session_free(s);
        }
    }

    static String quote(String s) {
        StringBuilder b = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            if (c == '"' || c == '\\') b.append('\\').append(c);
            else if (c < 0x20) b.append(String.format("\\u%04x", (int) c));
            else b.append(c);
        }
        return b.append('"').toString();
    }

    /* The "id" of a record's JSON text (ids are UUIDs: no escapes). */
    static String idOf(String json) throws Failure {
        int i = json.indexOf("\"id\":\"");
        if (i < 0) throw new Failure("no id in " + json);
        return json.substring(i + 6, json.indexOf('"', i + 6));
    }

    public static void main(String[] a) {
        if (a.length < 6) {
            System.err.println("usage: PhoneSync LIB REPLICA URL TOKEN CA_PEM write NAME NOTE | read");
            System.exit(2);
        }
        Pointer r = null;
        try {
            fds = Native.load(a[0], Fds.class,
                              Map.of(Library.OPTION_STRING_ENCODING, "UTF-8"));
            byte[] err = new byte[256];
            PointerByReference rref = new PointerByReference();
            int rc = fds.fds_replica_open(a[1], null, rref, err, new NativeLong(err.length));
            if (rc != Fds.FDS_OK)
                throw new Failure("open " + a[1] + ": " + Native.toString(err, "UTF-8"));
            r = rref.getValue();
            PointerByReference out = new PointerByReference();
            StringBuilder res = new StringBuilder("{");
            if (a[5].equals("write") && a.length == 8) {
                PointerByReference warn = new PointerByReference();
                check(r, fds.fds_customer_add_text(r, "{\"name\":" + quote(a[6]) + "}", out, warn),
                      "customer add");
                String customer = take(out.getValue());
                take(warn.getValue());
                check(r, fds.fds_followup_add_text(r, idOf(customer),
                          "{\"method\":\"phone\",\"content\":" + quote(a[7]) + "}", out),
                      "follow-up add");
                String followup = take(out.getValue());
                res.append("\"customer\":").append(customer)
                   .append(",\"followup\":").append(followup);
            } else if (a[5].equals("read") && a.length == 6) {
                res.append("\"customers\":[");
                String stats = sync(r, a[2], a[3], a[4]);
                check(r, fds.fds_customer_list_text(r, null, out), "customer list");
                String list = take(out.getValue());
                int from = 0, n = 0;
                while ((from = list.indexOf("\"id\":\"", from)) >= 0) {
                    String id = list.substring(from + 6, list.indexOf('"', from + 6));
                    from += 6;
                    if (id.length() != 36) continue;   /* only the customers' own ids */
                    check(r, fds.fds_customer_sheet_text(r, id, out), "customer sheet");
                    res.append(n++ > 0 ? "," : "").append(take(out.getValue()));
                }
                res.append("],\"stats\":").append(stats).append("}");
                System.out.println(res);
                return;
            } else {
                throw new Failure("unknown mode " + a[5]);
            }
            res.append(",\"stats\":").append(sync(r, a[2], a[3], a[4])).append("}");
            System.out.println(res);
        } catch (Exception e) {
            System.err.println("PhoneSync: " + (e instanceof Failure ? e.getMessage() : e.toString()));
            System.exit(1);
        } finally {
            if (r != null) fds.fds_replica_close(r);
        }
    }
}
