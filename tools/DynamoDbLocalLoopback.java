// Starts DynamoDB Local listening on one address only (loopback by default).
//
// DynamoDB Local has no option for the address it listens on: its server binds every interface.
// The project's servers listen on loopback only, so this starts the same server the jar's own
// main would (same arguments, same defaults) and points its one connector at the address before
// it starts. Run in Java's source-file mode, with the jar and its libraries on the class path:
//
//   java -cp 'DynamoDBLocal.jar:DynamoDBLocal_lib/*' -Djava.library.path=DynamoDBLocal_lib \
//        tools/DynamoDbLocalLoopback.java [-host 127.0.0.1] -inMemory -sharedDb -port P
import java.lang.reflect.Field;
import java.util.ArrayList;
import java.util.List;
import org.eclipse.jetty.server.Connector;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import software.amazon.dynamodb.services.local.main.ServerRunner;
import software.amazon.dynamodb.services.local.server.DynamoDBProxyServer;

public class DynamoDbLocalLoopback {
    public static void main(String[] args) throws Exception {
        String host = "127.0.0.1";
        List<String> rest = new ArrayList<>();
        for (int i = 0; i < args.length; i++) {
            if (args[i].equals("-host") && i + 1 < args.length) {
                host = args[++i];
            } else {
                rest.add(args[i]);
            }
        }
        DynamoDBProxyServer proxy = ServerRunner.createServerFromCommandLineArgs(rest.toArray(new String[0]));
        Field field = DynamoDBProxyServer.class.getDeclaredField("server");
        field.setAccessible(true);
        Server jetty = (Server) field.get(proxy);
        Connector[] connectors = jetty.getConnectors();
        if (connectors.length == 0) {
            throw new IllegalStateException("DynamoDB Local made no connector to bind");
        }
        for (Connector connector : connectors) {
            ((ServerConnector) connector).setHost(host);
        }
        proxy.start();
        proxy.join();
    }
}
