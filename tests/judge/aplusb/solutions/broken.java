// does not compile
public class Main {
    public static void main(String[] args) {
        long a = 1
        System.out.println(a + undefined);
    }
}
