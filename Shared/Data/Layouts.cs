namespace RobustEval.Data;

/// <summary>Conversions between channel-first and channel-last image batches.</summary>
public static class Layouts
{
    public static float[] ToNchw(float[] nhwc, int n, int c, int h, int w)
    {
        var result = new float[nhwc.Length];
        int plane = h * w;
        for (int i = 0; i < n; i++)
        {
            int b = i * c * plane;
            for (int p = 0; p < plane; p++)
            {
                for (int ch = 0; ch < c; ch++)
                {
                    result[b + ch * plane + p] = nhwc[b + p * c + ch];
                }
            }
        }
        return result;
    }

    public static float[] ToNhwc(float[] nchw, int n, int c, int h, int w)
    {
        var result = new float[nchw.Length];
        int plane = h * w;
        for (int i = 0; i < n; i++)
        {
            int b = i * c * plane;
            for (int p = 0; p < plane; p++)
            {
                for (int ch = 0; ch < c; ch++)
                {
                    result[b + p * c + ch] = nchw[b + ch * plane + p];
                }
            }
        }
        return result;
    }
}
